"""Write the format-2 model files of this folder (run once, with the estimator at 48e61c0).

``tests/test_model_files_compat.py`` loads them with today's code and checks the probabilities
saved beside them, so a change of the code can never stop files written before from loading.
"""

import warnings

import numpy as np

from mnistbench import MLPClassifier
from mnistbench.reference.data import load_embedded

data = load_embedded()
rows = np.random.default_rng(0).choice(data.X.shape[0], 300, replace=False)
X = data.X[rows, ::8] / 255.0
y = data.y[rows]
CASES = {
    "seed_relu10_f64": dict(hidden_layer_sizes=(10,), solver="sgd", max_iter=2),
    "deep_tanh_f32": dict(
        hidden_layer_sizes=(12, 7), activation="tanh", max_iter=2, dtype="float32"
    ),
    "batch_norm_f32": dict(
        hidden_layer_sizes=(9, 6), batch_norm=True, dropout=0.1, max_iter=2, dtype="float32"
    ),
    "string_labels_relu40": dict(hidden_layer_sizes=(40,), max_iter=2),
}
expected = {}
for name, settings in CASES.items():
    labels = np.array(["abcdefghij"[v] for v in y]) if "string" in name else y
    estimator = MLPClassifier(random_state=1, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, labels)
    estimator.save(f"tests/data/models_v2/{name}.npz")
    expected[name] = estimator.predict_proba(X[:20])
np.savez("tests/data/models_v2/expected_proba.npz", X=X[:20], **expected)
