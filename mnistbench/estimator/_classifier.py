"""``MLPClassifier``: scikit-learn's multi-layer perceptron classifier on the Numba kernels.

A drop-in for :class:`sklearn.neural_network.MLPClassifier`: the same parameters with the same
meanings and defaults, the same fitted attributes, scikit-learn's validation and error
messages, so it works in ``cross_val_score``, ``GridSearchCV`` and ``Pipeline``. What differs
is documented on the class; the methods live in :class:`~mnistbench.estimator._base.BaseMLP`.
"""

from __future__ import annotations

from typing import ClassVar

from ._base import BaseMLP
from ._validation import CONSTRAINTS

__all__ = ["MLPClassifier"]


class MLPClassifier(BaseMLP):
    """Multi-layer perceptron classifier trained by our kernels, with scikit-learn's API.

    Every parameter of scikit-learn's ``MLPClassifier`` is here with its meaning and default;
    ours follow ``max_fun``. Any ``hidden_layer_sizes`` and activation runs: one ReLU layer of
    at most 32 units on the seed's fused kernels, the rest on the layer-stack ones.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu", "gelu"}, \
default="relu"
        The hidden layers' activation ("sigmoid" is an alias of "logistic").
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        The optimizer; "lbfgs" is SciPy's L-BFGS-B on the engine's full-batch gradient.
    alpha : float, default=0.0001
        L2 strength: the loss adds ``0.5 * alpha * |W|^2 / batch_size`` (``/ n_samples`` for
        lbfgs), i.e. the kernels' ``l2 = alpha / batch_size``.
    batch_size : int or "auto", default="auto"
        Mini-batch size; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        scikit-learn's rate rule for sgd.
    learning_rate_init : float, default=0.001
        The initial learning rate (sgd, adam).
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs (sgd, adam) or iterations (lbfgs).
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the early-stopping split, dropout and augmentation.
    tol : float, default=1e-4
        Improvement below which an epoch counts as no improvement.
    verbose : bool, default=False
        Print the loss of every epoch.
    warm_start : bool, default=False
        ``fit`` continues from the fitted weights (with a fresh optimizer, as scikit-learn).
    momentum : float, default=0.9
        sgd momentum, in PyTorch's form (scikit-learn's steps at a constant rate).
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for sgd.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their accuracy stalls.
    validation_fraction : float, default=0.1
        The held-out share for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates.
    epsilon : float, default=1e-8
        Adam's epsilon.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    max_fun : int, default=15000
        The most loss evaluations lbfgs makes.
    engine : {"numba", "numpy"}, default="numba"
        Where the arithmetic runs: our kernels, or the NumPy reference.
    dtype : {"float32", "float64"} or None, default=None
        The weights' dtype; None follows X (float32 for float32 X, else float64).
    lr_schedule : {"constant", "step", "cosine"}, default="constant"
        A schedule over ``max_iter`` epochs, multiplied into ``learning_rate``'s rule.
    init : {"auto", "seed", "he", "glorot"}, default="auto"
        Initial weights: "auto" is He for the ReLU family and Glorot otherwise; "seed" the
        seed notebook's uniform [-0.5, 0.5).
    callback : callable or None, default=None
        Called as ``callback(epoch, loss, train_accuracy, dev_accuracy)`` when logging.
    log_interval : int, default=1
        Epochs between ``history_`` rows and callback calls.
    augment : set, tuple or comma string of {"affine", "elastic", "noise"}, default=None
        On-the-fly augmentation of 28x28 images (784 features, uint8 or floats in [0, 1];
        sgd/adam only; never at predict time). Image ``row`` of epoch ``e`` is transformed by a
        pure function of (``random_state``, e, row).
    rotate : float, default=10.0
        "affine": the largest rotation, in degrees.
    scale : float, default=0.1
        "affine": zoom by a factor in [1 - scale, 1 + scale].
    shift : float, default=2.0
        "affine": the largest shift per axis, in pixels.
    elastic_alpha, elastic_sigma : float, default=34.0, 4.0
        "elastic": Simard et al.'s displacement strength and smoothing width.
    noise : float, default=0.05
        "noise": the standard deviation of Gaussian pixel noise (clipped to [0, 1]).
    dropout : float or array-like of float, default=0.0
        Inverted dropout rate in [0, 1) for every hidden layer, or one per hidden layer (sgd,
        adam); masks are a pure function of (``random_state``, step, layer, row, unit).
    l1 : float, default=0.0
        Adds ``l1 * sum |W|`` to each batch's mean loss (weights only, not divided by the batch
        size).
    batch_norm : bool, default=False
        Batch normalisation of every hidden layer's pre-activations (sgd, adam): batch
        statistics in training, running ones at predict time.
    bn_momentum : float, default=0.1
        The running statistics' momentum.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted (multilabel: ``arange(n_labels)``).
    params_ : Network
        The weights ``(W1, b1, ..., WL, bL)`` in the kernels' layout (``W_l``: (units_out,
        units_in)), whatever the depth or width.
    batch_norm_state_ : BatchNormState or None
        Batch norm's scale, shift and running statistics (``batch_norm=True``), else None.
    coefs_ : list of ndarray
        ``coefs_[i]``: (n_in_i, n_out_i), views of ``params_``; assign new arrays to train
        from them.
    intercepts_ : list of ndarray
        ``intercepts_[i]``: (n_out_i,), views of ``params_``.
    n_features_in_ : int
        Features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, where X had string column names.
    loss_ : float
        The last epoch's loss (with the L2 term).
    loss_curve_ : list of float
        The loss of every epoch.
    best_loss_ : float or None
        The lowest loss (None with early stopping).
    validation_scores_ : list of float or None
        Held-out accuracy of every epoch (early stopping).
    best_validation_score_ : float or None
        The best held-out accuracy (early stopping).
    t_ : int
        Training samples seen.
    n_iter_ : int
        Epochs (or lbfgs iterations) run; after ``partial_fit`` every epoch trained.
    n_layers_ : int
        Layers including input and output.
    n_outputs_ : int
        Outputs: one softmax unit per class, also for two classes (two for a single class);
        one logistic unit per label for multilabel y.
    out_activation_ : str
        "softmax", or "logistic" for multilabel y (a 2-D 0/1 indicator matrix).
    history_ : History
        Logged (epoch, loss, train accuracy, dev accuracy, seconds) rows.
    fit_seconds_ : float
        Wall-clock seconds spent training.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The model this one follows.

    Notes
    -----
    Differences on purpose: uint8 X is read as pixels and scaled by 1/255 inside the kernels;
    binary problems (and a single class) use two softmax outputs; a loss that becomes NaN/Inf
    or 10x its start raises :class:`~mnistbench.reference.training.TrainingDiverged`; the L2
    term of the last, smaller batch uses the full batch's coefficient; no ``sample_weight``.
    Multilabel y trains logistic outputs with binary cross-entropy (no dropout, L1, batch norm
    or augmentation).
    X may be sparse (CSR/CSC, densified a chunk of rows at a time).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mnistbench import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0)
    >>> clf = clf.fit(X / 16, y)
    >>> clf.params_.sizes
    (64, 32, 10)
    >>> bool(clf.score(X / 16, y) > 0.9)
    True
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    _parameter_constraints: ClassVar[dict] = CONSTRAINTS

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        engine="numba",
        dtype=None,
        lr_schedule="constant",
        init="auto",
        callback=None,
        log_interval=1,
        augment=None,
        rotate=10.0,
        scale=0.1,
        shift=2.0,
        elastic_alpha=34.0,
        elastic_sigma=4.0,
        noise=0.05,
        dropout=0.0,
        l1=0.0,
        batch_norm=False,
        bn_momentum=0.1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.engine = engine
        self.dtype = dtype
        self.lr_schedule = lr_schedule
        self.init = init
        self.callback = callback
        self.log_interval = log_interval
        self.augment = augment
        self.rotate = rotate
        self.scale = scale
        self.shift = shift
        self.elastic_alpha = elastic_alpha
        self.elastic_sigma = elastic_sigma
        self.noise = noise
        self.dropout = dropout
        self.l1 = l1
        self.batch_norm = batch_norm
        self.bn_momentum = bn_momentum
