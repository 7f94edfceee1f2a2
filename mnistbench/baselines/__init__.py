"""Baselines: code people start from, timed beside the kernels but never used as the oracle.

The oracle is :mod:`mnistbench.reference` (correct math). A baseline reproduces what a user had
before, bugs and all, so that speedups can be quoted against it; the registry marks it
"baseline, not validated" (:data:`mnistbench.bench.variants.BASELINES`).
"""
