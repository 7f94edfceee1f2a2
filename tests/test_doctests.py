"""The ``Examples`` sections of the public API run as doctests, one test per docstring.

Each module is imported by its package name (``mnistbench.kernels.network``), never from its
file (``kernels/network.py``): pytest's ``--doctest-modules`` would import the file as a
top-level module, a second copy with kernels of its own. CI runs this file as its own step;
``python -m pytest tests/test_doctests.py`` runs it alone.
"""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

# The modules whose Examples are run; each must have at least one.
MODULES = (
    "mnistbench.reference.model",
    "mnistbench.reference.network",
    "mnistbench.kernels.model",
    "mnistbench.kernels.network",
    "mnistbench.kernels.training",
    "mnistbench.estimator._classifier",
    "mnistbench.estimator._setup",
    "mnistbench.estimator._state",
    "mnistbench.estimator.engines",
)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = finder.find(module, module_name, globs={"np": np, **vars(module)})
    return [test for test in tests if test.examples and test.name.startswith(module_name)]


def _params():
    return [
        pytest.param(module_name, test.name, id=test.name)
        for module_name in MODULES
        for test in _examples(module_name)
    ]


@pytest.mark.parametrize(("module_name", "name"), _params())
def test_docstring_examples_run_as_written(module_name: str, name: str):
    (test,) = [t for t in _examples(module_name) if t.name == name]
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    output: list[str] = []
    result = runner.run(test, out=output.append)
    assert result.failed == 0, "".join(output)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_listed_module_has_examples(module_name: str):
    assert _examples(module_name), f"{module_name} has no Examples section to run"


def test_a_wrong_example_fails():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(">>> 1 + 1\n3\n", {}, "planted", "planted.py", 0)
    output: list[str] = []
    result = doctest.DocTestRunner(optionflags=OPTIONS).run(test, out=output.append)
    assert result.failed == 1 and "Expected:\n    3\nGot:\n    2" in "".join(output)
