"""The course's helper functions and forward passes, in NumPy, exactly as its notebooks define them.

Two uses: jaxbp builds a learner's inputs with them (the caches in the course's order, the dropout
masks drawn as np.random.seed(1); np.random.rand(...) draws them, without touching NumPy's global
RNG), and they stand in for the course's helper modules (dnn_utils, planar_utils, reg_utils,
gc_utils, ...) when a learner's notebook imports one that is not beside it (see standins.py).

Formats (m examples per column, layer l's arrays (n_l, m)):
    dnn_utils      sigmoid(Z), relu(Z) -> (A, cache = Z);  sigmoid_backward, relu_backward(dA, cache) -> dZ
    *_utils        sigmoid(x), relu(x) -> s (the value only)
    planar         forward (X, parameters) -> (A2, {"Z1", "A1", "Z2", "A2"})        tanh, sigmoid
    3-layer        forward (X, parameters) -> (A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3))
    dropout        forward (X, parameters, keep_prob) -> (A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3))
    deep           L_model_forward(X, parameters) -> (AL, [((A_prev, W, b), Z) for each layer])
"""

import numpy as np

GC_SHAPES = (("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1)))


def sigmoid_value(x):
    """s = 1 / (1 + exp(-x)) (planar_utils, reg_utils, gc_utils)."""
    return 1 / (1 + np.exp(-x))


def relu_value(x):
    """s = max(0, x) (reg_utils, gc_utils)."""
    return np.maximum(0, x)


def sigmoid(Z):
    """dnn_utils: (A, cache) with A = 1 / (1 + exp(-Z)), cache = Z."""
    return 1 / (1 + np.exp(-Z)), Z


def relu(Z):
    """dnn_utils: (A, cache) with A = max(0, Z), cache = Z."""
    return np.maximum(0, Z), Z


def relu_backward(dA, cache):
    """dnn_utils: dZ = dA where Z > 0, else 0."""
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    """dnn_utils: dZ = dA s (1 - s), s = sigmoid(Z)."""
    s = 1 / (1 + np.exp(-cache))
    return dA * s * (1 - s)


def compute_cost(AL, Y):
    """The cross-entropy cost -(1/m) Σ (y log a + (1 - y) log(1 - a)), as a float."""
    m = Y.shape[1]
    logprobs = np.multiply(-np.log(AL), Y) + np.multiply(-np.log(1 - AL), 1 - Y)
    return float(1.0 / m * np.nansum(logprobs))


def planar_forward(X, parameters):
    """C1W3: (A2, cache) with A1 = tanh(Z1), A2 = sigmoid(Z2), cache = {"Z1", "A1", "Z2", "A2"}."""
    W1, b1, W2, b2 = (parameters[k] for k in ("W1", "b1", "W2", "b2"))
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid_value(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def three_layer_forward(X, parameters):
    """C2W1 (reg_utils.forward_propagation): LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID; (A3, 12-tuple cache)."""
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = np.dot(W1, X) + b1
    A1 = relu_value(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu_value(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid_value(Z3)
    return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def forward_propagation_n(X, Y, parameters):
    """C2W1 gradient checking: (cost, cache), the 3-layer forward and its cross-entropy cost."""
    A3, cache = three_layer_forward(X, parameters)
    return compute_cost(A3, Y), cache


def dropout_masks(shapes, keep_prob, seed=1):
    """The course's masks: np.random.seed(seed), then D[l] = (np.random.rand(n_l, m) < keep_prob).astype(int)."""
    rng = np.random.RandomState(seed)  # the same stream as np.random.seed(seed), without the global state
    return tuple((rng.rand(*shape) < keep_prob).astype(int) for shape in shapes)


def dropout_forward(X, parameters, keep_prob, seed=1):
    """C2W1 forward_propagation_with_dropout: inverted dropout on A1, A2; (A3, 14-tuple cache)."""
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    m = X.shape[1]
    D1, D2 = dropout_masks(((W1.shape[0], m), (W2.shape[0], m)), keep_prob, seed)
    Z1 = np.dot(W1, X) + b1
    A1 = relu_value(Z1) * D1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    A2 = relu_value(Z2) * D2 / keep_prob
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid_value(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def L_model_forward(X, parameters):
    """C1W4: [LINEAR->RELU] * (L-1) -> LINEAR->SIGMOID; (AL, caches), caches[l-1] = ((A_prev, W, b), Z)."""
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L + 1):
        W, b = parameters["W" + str(l)], parameters["b" + str(l)]
        Z = np.dot(W, A) + b
        caches.append(((A, W, b), Z))
        A = sigmoid_value(Z) if l == L else relu_value(Z)
    return A, caches


def reg_backward_propagation(X, Y, cache):
    """reg_utils.backward_propagation: the 3-layer backward, 1/m in dz3, lowercase intermediate keys."""
    m = X.shape[1]
    (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) = cache
    dz3 = 1.0 / m * (a3 - Y)
    dW3, db3 = np.dot(dz3, a2.T), np.sum(dz3, axis=1, keepdims=True)
    da2 = np.dot(W3.T, dz3)
    dz2 = np.multiply(da2, np.int64(a2 > 0))
    dW2, db2 = np.dot(dz2, a1.T), np.sum(dz2, axis=1, keepdims=True)
    da1 = np.dot(W2.T, dz2)
    dz1 = np.multiply(da1, np.int64(a1 > 0))
    dW1, db1 = np.dot(dz1, X.T), np.sum(dz1, axis=1, keepdims=True)
    return {"dz3": dz3, "dW3": dW3, "db3": db3, "da2": da2, "dz2": dz2, "dW2": dW2, "db2": db2, "da1": da1,
            "dz1": dz1, "dW1": dW1, "db1": db1}


def dictionary_to_vector(parameters):
    """gc_utils: (theta (47, 1), keys) from W1, b1, W2, b2, W3, b3, flattened in that order."""
    vectors, keys = [], []
    for key, _ in GC_SHAPES:
        v = np.reshape(parameters[key], (-1, 1))
        vectors.append(v)
        keys += [key] * v.shape[0]
    return np.concatenate(vectors, axis=0), keys


def vector_to_dictionary(theta):
    """gc_utils: the parameters dict of the (4, 5, 3, 1) network back from theta."""
    parameters, start = {}, 0
    for key, shape in GC_SHAPES:
        size = shape[0] * shape[1]
        parameters[key] = theta[start:start + size].reshape(shape)
        start += size
    return parameters


def gradients_to_vector(gradients):
    """gc_utils: dW1, db1, dW2, db2, dW3, db3 flattened into one column."""
    return np.concatenate([np.reshape(gradients["d" + key], (-1, 1)) for key, _ in GC_SHAPES], axis=0)
