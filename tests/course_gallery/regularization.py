"""C2W1 regularization: compute_cost_with_regularization(A3, Y, parameters, lambd) and
backward_propagation_with_regularization(X, Y, cache, lambd), cache = the 3-layer 12-tuple."""

import numpy as np
from reg_utils import compute_cost


def compute_cost_with_regularization(A3, Y, parameters, lambd):
    m = Y.shape[1]
    W1, W2, W3 = parameters["W1"], parameters["W2"], parameters["W3"]
    cross_entropy_cost = compute_cost(A3, Y)
    L2_regularization_cost = lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))
    return cross_entropy_cost + L2_regularization_cost


def compute_cost_with_regularization_no_m(A3, Y, parameters, lambd):
    """Bug: λ/2 Σ ||W||² without 1/m."""
    W = [parameters[f"W{l}"] for l in (1, 2, 3)]
    return compute_cost(A3, Y) + lambd / 2 * sum(np.sum(w**2) for w in W)


def backward_propagation_with_regularization(X, Y, cache, lambd):
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T) + lambd / m * W3
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T) + lambd / m * W2
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T) + lambd / m * W1
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def _with_l2(X, Y, cache, coefficients):
    grads = backward_propagation_with_regularization(X, Y, cache, 0.0)
    for l, c in coefficients.items():
        grads[f"dW{l}"] = grads[f"dW{l}"] + c * cache[(2, 6, 10)[l - 1]]
    return grads


def backward_propagation_with_regularization_missing_dW2(X, Y, cache, lambd):
    """Bug: the L2 term forgotten in dW2."""
    m = X.shape[1]
    return _with_l2(X, Y, cache, {1: lambd / m, 3: lambd / m})


def backward_propagation_with_regularization_no_m(X, Y, cache, lambd):
    """Bug: λ W instead of (λ/m) W, in every layer."""
    return _with_l2(X, Y, cache, dict.fromkeys((1, 2, 3), lambd))


def backward_propagation_with_regularization_doubled(X, Y, cache, lambd):
    """Bug: 2 (λ/m) W: the 1/2 of (λ/2m) ||W||² not cancelled."""
    return _with_l2(X, Y, cache, dict.fromkeys((1, 2, 3), 2 * lambd / X.shape[1]))
