"""A learner's backprop, written once for NumPy and for jax.numpy (xp), with the usual mistakes planted.

backprop(params, X, Y, *, xp, hidden, output, placement, start, bug, returns) follows the course:
    Z[l] = W[l] A[l-1] + b[l];  A[l] = g(Z[l])
    dZ[L] = AL - Y (start="dZL") or dAL * g'(Z[L]) with dAL = -(Y/AL - (1-Y)/(1-AL)) (start="dAL")
    dW[l] = s dZ[l] A[l-1].T;  db[l] = s sum_i dZ[l];  dA[l-1] = W[l].T dZ[l];  dZ[l-1] = dA[l-1] * g'(Z[l-1])
with s = 1/m (deferred) or 1 and dZ[L] /= m (absorbed). `bug` is (name, layer) or None; each name is one
mistake learners make, planted at that layer (layer None: every layer); a tuple of pairs plants several.
With bug=None it is correct. L_model_forward / L_model_backward are the course's pair, in NumPy.
"""

import numpy as np

from jaxbp.model import Layer


def _sigmoid(Z, xp):
    return 1 / (1 + xp.exp(-Z))


G = {
    "relu": lambda Z, xp: xp.maximum(Z, 0),
    "leaky_relu": lambda Z, xp: xp.where(Z >= 0, Z, 0.01 * Z),
    "sigmoid": _sigmoid,
    "tanh": lambda Z, xp: xp.tanh(Z),
    "identity": lambda Z, xp: Z,
}
G_PRIME = {
    "relu": lambda Z, xp: (Z > 0) * xp.ones_like(Z),
    "leaky_relu": lambda Z, xp: xp.where(Z >= 0, xp.ones_like(Z), 0.01 * xp.ones_like(Z)),
    "sigmoid": lambda Z, xp: _sigmoid(Z, xp) * (1 - _sigmoid(Z, xp)),
    "tanh": lambda Z, xp: 1 - xp.tanh(Z) ** 2,
    "identity": lambda Z, xp: xp.ones_like(Z),
}


def _softmax(Z, xp):
    E = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    return E / xp.sum(E, axis=0, keepdims=True)


def backprop(params, X, Y, *, xp, hidden="relu", output="sigmoid", placement="deferred", start="dZL", bug=None,
             returns="course"):
    """The learner's grads: a course dict with dA0..dA{L-1} ("course"), or Layers (+ steps with "steps")."""
    course = isinstance(params, dict)
    L = len(params) // 2 if course else len(params)
    W = [params[f"W{l}"] for l in range(1, L + 1)] if course else [p.W for p in params]
    b = [params[f"b{l}"] for l in range(1, L + 1)] if course else [p.b for p in params]
    bugs = () if bug is None else (bug,) if isinstance(bug[0], str) else tuple(bug)

    def planted(kind, l):
        return any(name == kind and at in (None, l) for name, at in bugs)

    A, Z = [X], []
    for l in range(1, L + 1):
        Z.append(W[l - 1] @ A[-1] + b[l - 1])
        A.append(_softmax(Z[-1], xp) if l == L and output == "softmax" else G[hidden if l < L else output](Z[-1], xp))
    AL, m = A[-1], X.shape[1]
    if start == "dAL":
        dAL = -(Y / AL - (1 - Y) / (1 - AL))
        g_out = "tanh" if planted("output-tanh-prime", L) else output
        dZ = dAL * (G_PRIME[g_out](Z[-1], xp) if not planted("output-prime-at-A", L) else G_PRIME[output](AL, xp))
    else:
        dZ = Y - AL if planted("sign", L) else AL - Y
        if planted("output-prime-twice", L):
            dZ = dZ * G_PRIME[output](Z[-1], xp)
    if placement == "absorbed" and not planted("absorbed-no-1/m", L):
        dZ = dZ / m
    grads, steps = {}, {}
    for l in range(L, 0, -1):
        s = 1 / m if placement == "deferred" or planted("deferred-1/m-too", l) else 1
        if planted("no-1/m", l):
            s = 1
        if planted("m-minus-1", l):
            s = 1 / (m - 1)
        dW = s * (dZ @ A[l - 1].T)
        if planted("dW-transposed", l):
            dW = s * (A[l - 1] @ dZ.T)
        if planted("dW-elementwise", l):
            dW = s * (dZ * A[l - 1])  # * where @ belongs: broadcasts only when n_l = 1
        if planted("dW-times-2", l):
            dW = dW * 2
        if planted("l2-term", l):
            dW = dW + 0.7 / m * W[l - 1]
        db = s * xp.sum(dZ, axis=1, keepdims=True)
        if planted("db-4/m", l):
            db = 4 / m * xp.sum(dZ, axis=1, keepdims=True)
        if planted("db-axis-0", l):
            db = s * xp.sum(dZ, axis=0, keepdims=True)
        if planted("db-not-summed", l):
            db = s * dZ
        if planted("db-no-keepdims", l):
            db = s * xp.sum(dZ, axis=1)
        dA_prev = (W[l - 1] if planted("W-not-transposed", l) else W[l - 1].T) @ dZ
        grads[f"dW{l}"], grads[f"db{l}"], grads[f"dA{l - 1}"] = dW, db, dA_prev
        steps[l] = (dZ, dA_prev)
        if l > 1:
            g_name = hidden
            for wrong in ("sigmoid", "tanh", "relu", "identity"):
                if planted(f"{wrong}-prime", l - 1):
                    g_name = wrong
            g_prime = G_PRIME[g_name](A[l - 1] if planted("prime-at-A", l - 1) else Z[l - 2], xp)
            if planted("relu-prime-z-over-abs-z", l - 1):
                g_prime = (Z[l - 2] / xp.abs(Z[l - 2]) + 1) / 2  # NaN where Z = 0
            dZ = dA_prev * g_prime
    if returns == "course":
        return grads
    layers = tuple(Layer(W=grads[f"dW{l}"], b=grads[f"db{l}"]) for l in range(1, L + 1))
    if returns == "steps":
        return layers, tuple(steps[l] for l in range(1, L + 1))
    return layers


def L_model_forward(X, parameters):
    """The course's forward: [LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID; caches [((A_prev, W, b), Z), ...]."""
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        Z = np.dot(W, A) + b
        caches.append(((A, W, b), Z))
        A = _sigmoid(Z, np) if l == L else np.maximum(0, Z)
    return A, caches


def L_model_backward(AL, Y, caches):
    """The course's backward from dAL = -(Y/AL - (1-Y)/(1-AL)); grads {"dA{l-1}", "dW{l}", "db{l}"}."""
    grads, L, m = {}, len(caches), AL.shape[1]
    Y = Y.reshape(AL.shape)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in range(L, 0, -1):
        (A_prev, W, b), Z = caches[l - 1]
        dZ = dA * (_sigmoid(Z, np) * (1 - _sigmoid(Z, np)) if l == L else (Z > 0))
        grads[f"dW{l}"] = 1 / m * np.dot(dZ, A_prev.T)
        grads[f"db{l}"] = 1 / m * np.sum(dZ, axis=1, keepdims=True)
        grads[f"dA{l - 1}"] = dA = np.dot(W.T, dZ)
    return grads


def L_model_backward_db1_4_over_m(AL, Y, caches):
    """The course's planted bug in db1: 4/m instead of 1/m."""
    grads = L_model_backward(AL, Y, caches)
    grads["db1"] = grads["db1"] * 4
    return grads
