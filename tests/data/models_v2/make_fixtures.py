import warnings, numpy as np
from mnistbench import MLPClassifier
from mnistbench.reference.data import load_embedded
d = load_embedded()
rows = np.random.default_rng(0).choice(d.X.shape[0], 300, replace=False)
X = d.X[rows, ::8] / 255.0
y = d.y[rows]
cases = {
 "seed_relu10_f64": dict(hidden_layer_sizes=(10,), solver="sgd", max_iter=2),
 "deep_tanh_f32": dict(hidden_layer_sizes=(12, 7), activation="tanh", max_iter=2, dtype="float32"),
 "batch_norm_f32": dict(hidden_layer_sizes=(9, 6), batch_norm=True, dropout=0.1, max_iter=2, dtype="float32"),
 "string_labels_relu40": dict(hidden_layer_sizes=(40,), max_iter=2),
}
expected = {}
for name, kw in cases.items():
    yy = np.array(["abcdefghij"[v] for v in y]) if "string" in name else y
    est = MLPClassifier(random_state=1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore"); est.fit(X, yy)
    est.save(f"tests/data/models_v2/{name}.npz")
    expected[name] = est.predict_proba(X[:20])
    print(name, type(est.params_).__name__)
np.savez("tests/data/models_v2/expected_proba.npz", X=X[:20], **expected)
