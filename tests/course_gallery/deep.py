"""C1W4 step by step: L_model_forward(X, parameters) -> (AL, caches), L_model_backward(AL, Y, caches) -> grads,
caches[l-1] = ((A_prev, W, b), Z); the one-layer functions linear_backward(dZ, cache), linear_activation_backward(dA,
cache, activation), relu_backward(dA, cache), sigmoid_backward(dA, cache). New-style grads keys ("dA" + str(l)) and
the 2017-2019 notebooks' ("dA" + str(l + 1)); correct ones and the mistakes learners make."""

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z)), Z


def relu(Z):
    return np.maximum(0, Z), Z


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    s = 1 / (1 + np.exp(-cache))
    return dA * s * (1 - s)


def L_model_forward(X, parameters):
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        Z = np.dot(parameters["W" + str(l)], A_prev) + parameters["b" + str(l)]
        A, activation_cache = relu(Z)
        caches.append(((A_prev, parameters["W" + str(l)], parameters["b" + str(l)]), activation_cache))
    Z = np.dot(parameters["W" + str(L)], A) + parameters["b" + str(L)]
    AL, activation_cache = sigmoid(Z)
    caches.append(((A, parameters["W" + str(L)], parameters["b" + str(L)]), activation_cache))
    return AL, caches


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
    return linear_backward(dZ, linear_cache)


def L_model_backward(AL, Y, caches):
    """New keys: grads["dA" + str(l)] = dA[l]."""
    grads, L = {}, len(caches)
    Y = Y.reshape(AL.shape)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current_cache = caches[L - 1]
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, current_cache, "sigmoid")
    for l in reversed(range(L - 1)):
        dA_prev_temp, dW_temp, db_temp = linear_activation_backward(grads["dA" + str(l + 1)], caches[l], "relu")
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev_temp, dW_temp, db_temp
    return grads


def L_model_backward_old_keys(AL, Y, caches):
    """2017-2019 keys: grads["dA" + str(l + 1)] = dA[l], computed with @ and a tuple unpacking per layer."""
    grads, L = {}, len(caches)
    dAL = -(Y / AL - (1 - Y) / (1 - AL))
    grads["dA" + str(L)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid")
    for l in reversed(range(L - 1)):
        (A_prev, W, b), Z = caches[l]
        dZ = grads["dA" + str(l + 2)] * (Z > 0)
        m = A_prev.shape[1]
        grads["dA" + str(l + 1)] = W.T @ dZ
        grads["dW" + str(l + 1)] = dZ @ A_prev.T / m
        grads["db" + str(l + 1)] = dZ.sum(axis=1, keepdims=True) / m
    return grads


def L_model_backward_float32(AL, Y, caches):
    """Correct, the whole backward computed in float32."""
    f32 = [((A.astype(np.float32), W.astype(np.float32), b.astype(np.float32)), Z.astype(np.float32))
           for (A, W, b), Z in caches]
    return L_model_backward(AL.astype(np.float32), Y.astype(np.float32), f32)


def L_model_backward_dAL_everywhere(AL, Y, caches):
    """Bug: dAL fed to every hidden layer's linear_activation_backward."""
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid")
    for l in reversed(range(L - 1)):
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = linear_activation_backward(
            dAL, caches[l], "relu")
    return grads


def L_model_backward_stale_dA(AL, Y, caches):
    """Bug: every hidden layer reads grads["dA" + str(L - 1)], the output layer's dA_prev (right only for L - 1)."""
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid")
    for l in reversed(range(L - 1)):
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(L - 1)], caches[l], "relu")
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    return grads


def L_model_backward_mixed_keys(AL, Y, caches):
    """Raises KeyError: writes the old keys, reads the new ones."""
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads["dA" + str(L)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid")
    for l in reversed(range(L - 1)):
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(l + 1)], caches[l], "relu")
        grads["dA" + str(l + 1)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    return grads


def L_model_backward_caches_off_by_one(AL, Y, caches):
    """Raises IndexError: caches[l + 1] for layer l + 1 (caches[L] does not exist)."""
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current_cache = caches[L]
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, current_cache, "sigmoid")
    return grads


def linear_backward_no_m(dZ, cache):
    """Bug: dW, db without 1/m."""
    A_prev, W, b = cache
    return W.T @ dZ, dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)


def linear_activation_backward_swapped(dA, cache, activation):
    """Bug: the branches swapped (sigmoid_backward for "relu" and relu_backward for "sigmoid")."""
    linear_cache, activation_cache = cache
    backward = sigmoid_backward if activation == "relu" else relu_backward
    return linear_backward(backward(dA, activation_cache), linear_cache)


def relu_backward_in_place(dA, cache):
    """Bug: dZ = dA, so dZ[Z <= 0] = 0 writes into the caller's dA."""
    dZ = dA
    dZ[cache <= 0] = 0
    return dZ


def relu_backward_kink(dA, cache):
    """Bug: relu'(0) taken as 1 (Z < 0 instead of Z <= 0)."""
    dZ = np.array(dA, copy=True)
    dZ[cache < 0] = 0
    return dZ


def sigmoid_backward_at_A(dA, cache):
    """Bug: s(1 - s) with s = sigmoid(A), A = sigmoid(Z)."""
    A = 1 / (1 + np.exp(-cache))
    s = 1 / (1 + np.exp(-A))
    return dA * s * (1 - s)


def L_model_backward_dAL_sigmoid(AL, Y, caches):
    """Bug: sigmoid_backward(dAL, Z[l]) for every layer: the output's dAL and g' reused in the relu loop."""
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(L)):
        linear_cache, Z = caches[l]
        dA_prev, dW, db = linear_backward(sigmoid_backward(dAL, Z), linear_cache)
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    return grads


def L_model_backward_dAL_relu(AL, Y, caches):
    """Bug: dZ = dAL * (Z > 0) in the relu loop: dAL, not the layer above's dA, fed to every hidden layer."""
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid")
    for l in reversed(range(L - 1)):
        linear_cache, Z = caches[l]
        dA_prev, dW, db = linear_backward(dAL * (Z > 0), linear_cache)
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    return grads


def L_model_backward_wrong_cache(AL, Y, caches):
    """Bug: layer l's linear_backward given the cache of layer l + 1 (square hidden layers only)."""
    grads = L_model_backward(AL, Y, caches)
    L = len(caches)
    for l in reversed(range(L - 2)):
        dZ = relu_backward(grads["dA" + str(l + 1)], caches[l][1])
        A_prev_wrong = caches[l + 1][0][0]  # layer l + 2's A_prev = A[l + 1] where A[l] belongs
        grads["dW" + str(l + 1)] = dZ @ A_prev_wrong.T / A_prev_wrong.shape[1]
    return grads
