"""C2W1 dropout: forward_propagation_with_dropout(X, parameters, keep_prob) -> (A3, cache) and
backward_propagation_with_dropout(X, Y, cache, keep_prob), cache = (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3,
W3, b3). The course seeds NumPy's global RNG inside the forward; these use a local RandomState(1), the same draws."""

import numpy as np
from reg_utils import relu, sigmoid


def forward_propagation_with_dropout(X, parameters, keep_prob=0.5):
    rng = np.random.RandomState(1)
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    D1 = rng.rand(A1.shape[0], A1.shape[1])
    D1 = (D1 < keep_prob).astype(int)
    A1 = A1 * D1
    A1 = A1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    D2 = rng.rand(A2.shape[0], A2.shape[1])
    D2 = (D2 < keep_prob).astype(int)
    A2 = A2 * D2
    A2 = A2 / keep_prob
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    cache = (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, cache


def forward_propagation_with_dropout_not_scaled(X, parameters, keep_prob=0.5):
    """Bug: the masks applied but A not divided by keep_prob."""
    A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, _, W3, b3) = forward_propagation_with_dropout(X, parameters,
                                                                                                  keep_prob)
    A1 = relu(Z1) * D1
    Z2 = W2 @ A1 + b2
    A2 = relu(Z2) * D2
    Z3 = W3 @ A2 + b3
    A3 = sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    m = X.shape[1]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dA2 = dA2 * D2
    dA2 = dA2 / keep_prob
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dA1 = dA1 * D1
    dA1 = dA1 / keep_prob
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def _backward(X, Y, cache, scale1, scale2):
    """The dropout backward with dA[l] multiplied by scale_l(D[l]) and g' taken at Z (so a missing mask shows)."""
    m = X.shape[1]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dZ2 = (W3.T @ dZ3) * scale2(D2) * (Z2 > 0)
    dZ1 = (W2.T @ dZ2) * scale1(D1) * (Z1 > 0)
    return {f"d{q}{l}": v for l, dZ, A_prev in ((3, dZ3, A2), (2, dZ2, A1), (1, dZ1, X))
            for q, v in (("W", dZ @ A_prev.T / m), ("b", dZ.sum(axis=1, keepdims=True) / m))}


def backward_propagation_with_dropout_no_mask(X, Y, cache, keep_prob):
    """Bug: dA1 not multiplied by D1 (g' taken at Z1, so nothing else masks it)."""
    return _backward(X, Y, cache, lambda D: 1 / keep_prob, lambda D: D / keep_prob)


def backward_propagation_with_dropout_not_scaled(X, Y, cache, keep_prob):
    """Bug: masked but not divided by keep_prob, in both hidden layers."""
    return _backward(X, Y, cache, lambda D: D, lambda D: D)


def forward_propagation_with_dropout_inverted_mask(X, parameters, keep_prob=0.5):
    """Bug: D = (rand > keep_prob): keeps 1 - keep_prob of the units."""
    A3, cache = forward_propagation_with_dropout(X, parameters, keep_prob)
    Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3 = cache
    D1, D2 = 1 - D1, 1 - D2
    A1 = relu(Z1) * D1 / keep_prob
    Z2 = W2 @ A1 + b2
    A2 = relu(Z2) * D2 / keep_prob
    Z3 = W3 @ A2 + b3
    A3 = sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
