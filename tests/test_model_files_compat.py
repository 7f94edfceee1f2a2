"""Model files written before the weights became one type still load and predict the same.

``tests/data/models_v2/`` holds format-2 files written by the estimator at commit 48e61c0, when
one narrow ReLU layer was saved from the seed's ``Params`` and batch norm from a
``BatchNormNetwork`` (``make_fixtures.py`` there wrote them), with the probabilities each
predicted for 20 rows. Today's code must read every one into a ``Network`` (and a
``BatchNormState`` beside it) and predict those probabilities again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import TOL
from mnistbench import MLPClassifier
from mnistbench.estimator import BatchNormState
from mnistbench.model_files import FORMAT_VERSION, load_model, read_model
from mnistbench.reference.network import Network

FIXTURES = Path(__file__).parent / "data" / "models_v2"
NAMES = ("seed_relu10_f64", "deep_tanh_f32", "batch_norm_f32", "string_labels_relu40")
SIZES = {
    "seed_relu10_f64": (98, 10, 10),
    "deep_tanh_f32": (98, 12, 7, 10),
    "batch_norm_f32": (98, 9, 6, 10),
    "string_labels_relu40": (98, 40, 10),
}


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected_proba.npz") as npz:
        return {name: npz[name] for name in npz.files}


@pytest.mark.parametrize("name", NAMES)
def test_format_2_files_written_before_load_and_predict_the_same(expected, name):
    path = FIXTURES / f"{name}.npz"
    assert read_model(path).metadata["format_version"] == 2 == FORMAT_VERSION
    model = MLPClassifier.load(path)
    assert type(model.params_) is Network and model.params_.sizes == SIZES[name]
    assert (model.batch_norm_state_ is not None) == (name == "batch_norm_f32")
    proba = model.predict_proba(expected["X"])
    assert proba.dtype == model.params_.dtype
    atol, rtol = TOL[proba.dtype]  # the kernels may round differently on another CPU
    np.testing.assert_allclose(proba, expected[name], atol=atol, rtol=rtol)
    if name.startswith("string"):
        assert model.classes_.tolist() == list("abcdefghij")


def test_read_model_gives_a_network_and_the_batch_norm_beside_it():
    seed = read_model(FIXTURES / "seed_relu10_f64.npz")
    assert type(seed.params) is Network and seed.batch_norm is None
    assert type(load_model(FIXTURES / "seed_relu10_f64.npz")[0]) is Network
    normed = read_model(FIXTURES / "batch_norm_f32.npz")
    assert isinstance(normed.batch_norm, BatchNormState)
    assert normed.batch_norm.units == (9, 6) and normed.batch_norm.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_saving_a_loaded_file_again_writes_the_same_arrays(tmp_path, name):
    """The on-disk format did not change: a file re-saved today holds the same arrays."""
    path = FIXTURES / f"{name}.npz"
    again = MLPClassifier.load(path).save(tmp_path / "again.npz")
    with np.load(path) as old, np.load(again) as new:
        assert sorted(old.files) == sorted(new.files)
        for key in old.files:
            if key != "metadata":
                np.testing.assert_array_equal(new[key], old[key])
