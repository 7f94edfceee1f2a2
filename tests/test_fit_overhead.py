"""``fit``'s cost beyond its epochs: the loss before training (the divergence check's baseline)
is measured on at most BASELINE_ROWS evenly spaced rows, not on a forward pass over all of X."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mnistbench import MLPClassifier
from mnistbench.estimator import _stochastic
from mnistbench.reference.training import TrainingDiverged


def _data(m, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((m, 20), dtype=np.float32), rng.integers(0, 3, m)


@pytest.mark.parametrize("m", [100, _stochastic.BASELINE_ROWS + 904])
def test_the_baseline_reads_at_most_baseline_rows(m, monkeypatch):
    seen = []
    original = _stochastic.proba_of

    def recording(engine, model, X):
        seen.append(X.shape[0])
        return original(engine, model, X)

    monkeypatch.setattr(_stochastic, "proba_of", recording)
    X, y = _data(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X, y)
    assert seen == [min(m, _stochastic.BASELINE_ROWS)]


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_divergence_is_still_caught_on_large_inputs(engine):
    X, y = _data(_stochastic.BASELINE_ROWS + 1000)
    X *= 1e4
    # identity units (no ReLU to die off and stall the loss), a step far too large: the loss
    # explodes on every engine and run, and is compared with the subset's baseline
    est = MLPClassifier(
        hidden_layer_sizes=(8,),
        activation="identity",
        solver="sgd",
        learning_rate_init=50.0,
        max_iter=5,
        random_state=0,
        engine=engine,
    )
    with pytest.raises(TrainingDiverged, match="training diverged"):
        est.fit(X, y)
