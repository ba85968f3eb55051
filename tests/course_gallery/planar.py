"""C1W3 planar data classification: forward_propagation(X, parameters) -> (A2, cache), backward_propagation(parameters,
cache, X, Y) -> grads, in the course's exact signatures; correct ones and the mistakes learners make."""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward_propagation(X, parameters):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid(Z2)
    assert A2.shape == (1, X.shape[1])
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2 = parameters["W2"]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = 1 / m * np.dot(dZ2, A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
    dW1 = 1 / m * np.dot(dZ1, X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def forward_propagation_relu(X, parameters):
    """Bug: relu in the hidden layer where the course has tanh."""
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    Z1 = W1 @ X + b1
    A1 = np.maximum(0, Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def backward_propagation_tanh_at_A(parameters, cache, X, Y):
    """Bug: tanh' evaluated at A1 (1 - tanh(A1)^2) instead of at Z1 (1 - A1^2)."""
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = parameters["W2"].T @ dZ2 * (1 - np.tanh(A1) ** 2)
    return {"dW1": dZ1 @ X.T / m, "db1": np.sum(dZ1, axis=1, keepdims=True) / m, "dW2": dW2, "db2": db2}


def backward_propagation_no_m(parameters, cache, X, Y):
    """Bug: no 1/m anywhere."""
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (1 - np.power(A1, 2))
    return {"dW1": np.dot(dZ1, X.T), "db1": np.sum(dZ1, axis=1, keepdims=True), "dW2": np.dot(dZ2, A1.T),
            "db2": np.sum(dZ2, axis=1, keepdims=True)}


def backward_propagation_float_db2(parameters, cache, X, Y):
    """Raises under NumPy 2: float() of the (1, 1) db2."""
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    db2 = float(1 / m * np.sum(dZ2, axis=1, keepdims=True))
    return {"db2": db2}


def backward_propagation_renamed(params, cache_, X, Y):
    """Correct, with other parameter names: called positionally."""
    return backward_propagation(params, cache_, X, Y)
