"""The seed notebook's network, verbatim: the baseline every speedup is also quoted against.

Not the oracle (that is :mod:`mnistbench.reference.model`) and not validated against it. Kept as
the notebook wrote it, so its quirks are measured too:

* samples are columns: ``X`` is ``(784, m)``, ``Z1``/``A1`` are ``(10, m)``; the notebook's
  ``X_train`` is ``data[1000:m].T[1:n] / 255.``, which is Fortran-ordered, so ``X_rows.T`` of a
  C-ordered ``(m, 784)`` array is exactly its memory layout;
* ``db = 1 / m * np.sum(dZ)`` sums over units as well as samples: one scalar for every bias;
* ``softmax`` is ``np.exp(Z) / sum(np.exp(Z))``: no max subtraction (overflows for logits over
  ~709), two ``exp`` passes and Python's ``sum`` over the 10 rows;
* ``one_hot`` allocates a fresh ``(m, Y.max() + 1)`` float64 matrix and transposes it;
* ``init_params`` draws from the global ``np.random`` state; biases are ``(10, 1)`` columns.

One change: ``backward_prop`` reads ``m`` from the module, as the notebook reads its global
``m`` (the row count of the whole CSV, 42,000, not the 41,000 training columns; one more quirk).
:func:`set_m` sets it; the timing does not depend on its value. Left out: the data loading and
``test_prediction`` (a matplotlib display of one training image).
"""

# ruff: noqa: NPY002  (the notebook draws from the global np.random state)
import numpy as np

m = 42000  # the notebook's global: rows of Kaggle's train.csv, dev rows included


def set_m(rows: int) -> None:
    """Set the module's ``m`` (what the notebook's ``backward_prop`` divides by)."""
    global m
    m = rows


def init_params():
    W1 = np.random.rand(10, 784) - 0.5
    b1 = np.random.rand(10, 1) - 0.5
    W2 = np.random.rand(10, 10) - 0.5
    b2 = np.random.rand(10, 1) - 0.5
    return W1, b1, W2, b2


def ReLU(Z):
    return np.maximum(Z, 0)


def softmax(Z):
    A = np.exp(Z) / sum(np.exp(Z))
    return A


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = ReLU(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = softmax(Z2)
    return Z1, A1, Z2, A2


def ReLU_deriv(Z):
    return Z > 0


def one_hot(Y):
    one_hot_Y = np.zeros((Y.size, Y.max() + 1))
    one_hot_Y[np.arange(Y.size), Y] = 1
    one_hot_Y = one_hot_Y.T
    return one_hot_Y


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
    one_hot_Y = one_hot(Y)
    dZ2 = A2 - one_hot_Y
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2)
    dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
    dW1 = 1 / m * dZ1.dot(X.T)
    db1 = 1 / m * np.sum(dZ1)
    return dW1, db1, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    return W1, b1, W2, b2


def get_predictions(A2):
    return np.argmax(A2, 0)


def get_accuracy(predictions, Y):
    print(predictions, Y)
    return np.sum(predictions == Y) / Y.size


def gradient_descent(X, Y, alpha, iterations):
    W1, b1, W2, b2 = init_params()
    for i in range(iterations):
        Z1, A1, Z2, A2 = forward_prop(W1, b1, W2, b2, X)
        dW1, db1, dW2, db2 = backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y)
        W1, b1, W2, b2 = update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha)
        if i % 10 == 0:
            print("Iteration: ", i)
            predictions = get_predictions(A2)
            print(get_accuracy(predictions, Y))
    return W1, b1, W2, b2


def make_predictions(X, W1, b1, W2, b2):
    _, _, _, A2 = forward_prop(W1, b1, W2, b2, X)
    predictions = get_predictions(A2)
    return predictions
