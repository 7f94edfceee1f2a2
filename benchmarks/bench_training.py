"""Accuracy reached on a fixed budget (track_) and memory of a training run (peakmem_)."""

from mnistbench.estimator import MLPClassifier
from mnistbench.reference.data import load_embedded, train_dev_split

from .common import minibatch_case
from .presets import grid


def _split():
    data = load_embedded()
    return train_dev_split(data.X, data.y, dev_size=1000, seed=0)


# The seed: full-batch plain gradient descent (batch = all 4,000 rows), hidden 10, 500 epochs.
SEED_RUN = dict(
    hidden_layer_sizes=(10,),
    solver="sgd",
    momentum=0.0,
    batch_size=4000,
    max_iter=500,
    n_iter_no_change=500,
    learning_rate_init=0.1,
    alpha=0.0,
    init="seed",
    random_state=0,
)
# l2 5e-3 per mean loss is alpha = 5e-3 * batch_size in scikit-learn's convention.
ADAM_RUN = dict(
    hidden_layer_sizes=(128,),
    solver="adam",
    batch_size=64,
    max_iter=20,
    n_iter_no_change=20,
    learning_rate_init=0.01,
    lr_schedule="cosine",
    alpha=5e-3 * 64,
    random_state=0,
)


class SeedRunAccuracy:
    """The seed: 500 full-batch iterations at 0.1 on the embedded 4,000 / 1,000 digits."""

    params = grid("SeedRunAccuracy")
    param_names = ["engine"]
    timeout = 300
    unit = "accuracy"

    def setup_cache(self):
        X, y, X_dev, y_dev = _split()
        return {
            engine: MLPClassifier(engine=engine, **SEED_RUN).fit(X, y).score(X_dev, y_dev)
            for engine in self.params[0]
        }

    def track_dev_accuracy(self, scores, engine):
        return scores[engine]

    track_dev_accuracy.unit = "accuracy"


class AdamAccuracy:
    """Mini-batch Adam, hidden 128, 20 epochs of batch 64 (scikit-learn's MLP: ~0.93)."""

    timeout = 180

    def track_dev_accuracy(self):
        X, y, X_dev, y_dev = _split()
        return MLPClassifier(**ADAM_RUN).fit(X, y).score(X_dev, y_dev)

    track_dev_accuracy.unit = "accuracy"


class TrainingMemory:
    """Peak memory of preparing and running one mini-batch epoch over the seed workload."""

    params = grid("TrainingMemory")
    param_names = ["variant"]
    timeout = 120

    def peakmem_epoch(self, variant):
        epoch, params, order = minibatch_case(variant, "float32")
        epoch(params, order, 128, 0.01)
