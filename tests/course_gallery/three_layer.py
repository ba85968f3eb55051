"""C2W1 gradient checking: forward_propagation_n(X, Y, parameters) -> (cost, cache), backward_propagation_n(X, Y,
cache) -> gradients, cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3); relu, relu, sigmoid."""

import numpy as np
from gc_utils import relu, sigmoid


def forward_propagation_n(X, Y, parameters):
    m = X.shape[1]
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = 1.0 / m * np.sum(logprobs)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return cost, cache


def backward_propagation_n(X, Y, cache):
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def backward_propagation_n_float32(X, Y, cache):
    """Correct, computed in float32 with @ (as a learner on a GPU notebook might)."""
    Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3 = (np.asarray(a, np.float32) for a in cache)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    m = X.shape[1]
    dZ3 = A3 - Y
    dZ2 = (W3.T @ dZ3) * (Z2 > 0)
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return {f"d{q}{l}": v for l, dZ, A_prev in ((3, dZ3, A2), (2, dZ2, A1), (1, dZ1, X))
            for q, v in (("W", dZ @ A_prev.T / m), ("b", dZ.sum(axis=1, keepdims=True) / m))}


def backward_propagation_n_course_bugs(X, Y, cache):
    """The notebook's two planted bugs: dW2 twice too large, db1 with 4/m."""
    grads = backward_propagation_n(X, Y, cache)
    grads["dW2"] = grads["dW2"] * 2
    grads["db1"] = 4.0 / X.shape[1] * np.sum(grads["dZ1"], axis=1, keepdims=True)
    return grads


def backward_propagation_n_wrong_cache(X, Y, cache):
    """Bug: dW2 = dZ2 A2.T, layer 2's own A where A1 belongs."""
    grads = backward_propagation_n(X, Y, cache)
    A2, m = cache[5], X.shape[1]
    grads["dW2"] = 1.0 / m * np.dot(grads["dZ2"], A2.T)
    return grads


def backward_propagation_n_assert_float(X, Y, cache):
    """Raises: the course-style assert on a (1, 1) array."""
    grads = backward_propagation_n(X, Y, cache)
    db3 = grads["db3"]
    assert isinstance(db3, float)
    return grads


def backward_propagation_n_old_signature(parameters, X, Y):
    """The README's old form backward_propagation_n(parameters, X, Y): jaxbp's generic call."""
    cache = forward_propagation_n(X, Y, parameters)[1]
    return backward_propagation_n(X, Y, cache)
