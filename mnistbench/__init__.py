"""mnistbench: a Numba-accelerated benchmark suite around a from-scratch MNIST network.

Three layers, dependencies pointing one way:

* :mod:`mnistbench.reference` (folder ``reference/``): the NumPy oracle with the seed's names;
* :mod:`mnistbench.kernels` (folder ``kernels/``): Numba kernels behind validated wrappers;
* :mod:`mnistbench` itself (folder ``mnistbench/``): the application on top: the estimator
  (:class:`MLPClassifier`), model files, the variant registry, the PyTorch engine, the command
  line and the bench report.

Application names are imported lazily, so ``import mnistbench.kernels`` loads no application code.
"""

import importlib

_EXPORTS = {
    "MLPClassifier": "mnistbench.estimator",
    "NotFittedError": "mnistbench.estimator",
    "ModelFileError": "mnistbench.model_files",
    "load_model": "mnistbench.model_files",
    "save_model": "mnistbench.model_files",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
