"""Independent references for the tests: NumPy float64 re-implementations and Ng's metric."""

import numpy as np

from jaxbp.checking.compare import rel_error


def max_rel_error(grads, reference):
    """The worst per-parameter rel_error over two params-shaped trees of Layer."""
    return max(rel_error(g, r) for g_layer, r_layer in zip(grads, reference, strict=True)
               for g, r in zip(g_layer, r_layer, strict=True))


NP_G = {
    "sigmoid": lambda Z: 1 / (1 + np.exp(-Z)),
    "tanh": np.tanh,
    "relu": lambda Z: np.where(Z > 0, Z, 0.0),
    "leaky_relu": lambda Z: np.where(Z >= 0, Z, 0.01 * Z),
    "identity": lambda Z: Z,
    "softmax": lambda Z: np.exp(Z - Z.max(0)) / np.exp(Z - Z.max(0)).sum(0),
}


def np_forward(params, X, hidden, output, masks=None, keep_prob=1.0):
    """A[L] by NumPy float64, the plain loop of the course; masks: the course's inverted dropout."""
    A = np.asarray(X, np.float64)
    for l, layer in enumerate(params, start=1):
        Z = np.asarray(layer.W, np.float64) @ A + np.asarray(layer.b, np.float64)
        A = NP_G[output if l == len(params) else hidden](Z)
        if masks is not None and l < len(params):
            A = A * np.asarray(masks[l - 1], np.float64)  # the course: A = A * D; A = A / keep_prob
            A = A / keep_prob
    return A


def np_cost(params, X, Y, hidden, output, masks=None, keep_prob=1.0):
    """J = (1/m) sum of the course's losses, from probabilities, in NumPy float64."""
    AL, Y = np_forward(params, X, hidden, output, masks, keep_prob), np.asarray(Y, np.float64)
    if output == "sigmoid":
        L = -(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)).sum(0)
    elif output == "softmax":
        L = -(Y * np.log(AL)).sum(0)
    else:
        L = 0.5 * ((AL - Y) ** 2).sum(0)
    return L.mean()


def compute_cost_with_regularization(A3, Y, parameters, lambd):
    """The course's function (Improving Deep Neural Networks, week 1, Regularization), NumPy float64."""
    m = Y.shape[1]
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cross_entropy_cost = 1.0 / m * np.nansum(logprobs)
    L2_regularization_cost = (1 / m) * (lambd / 2) * sum(np.sum(np.square(parameters[f"W{l}"]))
                                                         for l in range(1, len(parameters) // 2 + 1))
    return cross_entropy_cost + L2_regularization_cost


def np_forward_values(params, X, hidden, output):
    """(Z, A) of the plain forward in NumPy float64: Z[l-1] = Z[l], A[0] = X, A[L] = AL."""
    A, Z = [np.asarray(X, np.float64)], []
    for l, layer in enumerate(params, start=1):
        Z.append(np.asarray(layer.W, np.float64) @ A[-1] + np.asarray(layer.b, np.float64))
        A.append(NP_G[output if l == len(params) else hidden](Z[-1]))
    return Z, A


def worst_bound_ratio(grads, reference, params, X, Y, *, hidden, output, placement, precision):
    """max over dW[l], db[l] of ||u - r|| / bound_p (compare's bound; ok iff <= 1), with r float64."""
    from jaxbp.checking import compare

    Z, A = np_forward_values(params, X, hidden, output)
    M = compare.magnitudes(params, X, Y, Z, A, hidden=hidden, output=output, placement=placement)
    return max(compare.judge(getattr(g, q), getattr(r, q), M[f"d{q}{l}"], (precision,))[1]
               for l, (g, r) in enumerate(zip(grads, reference, strict=True), start=1) for q in "Wb")
