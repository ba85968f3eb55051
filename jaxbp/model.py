"""The L-layer network in Ng's notation: parameters, forward pass, cost and its jax.grad.

Contract
    X (n_x, m), one example per column; W[l] (n_l, n_{l-1}); b[l] (n_l, 1); Y (n_y, m).
    params is a tuple of Layer(W, b), params[l-1] holding W[l], b[l]; layer_dims =
    (n_x, n_1, ..., n_L). Hidden layers share one activation, the output layer has its own,
    and the output fixes the loss (see costs.py). J is a mean over m unless reduction="sum".
    Every function is pure; choices are keyword-only strings (static under jax.jit).
    Regularization: L2 adds (lambd/2m) sum_l ||W[l]||^2 to J; inverted dropout multiplies the
    hidden A[l] by D[l] / keep_prob, with 0/1 masks D[l] passed in or drawn from an explicit key.
    Every public function validates its arguments first (shapes.py); the _private loops do not.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import activations, costs, shapes

INIT_METHODS = ("he", "xavier", "ng", "small")


class Layer(NamedTuple):
    """One layer's parameters (or, mirroring them, its gradients dW, db)."""

    W: jax.Array  # (n_l, n_{l-1})
    b: jax.Array  # (n_l, 1)


class Cache(NamedTuple):
    """What the backward pass of one layer needs from the forward pass (a pytree: D=None is an empty leaf)."""

    A_prev: jax.Array  # (n_{l-1}, m)   A[l-1], after layer l-1's dropout
    Z: jax.Array  # (n_l, m)            Z[l]
    D: jax.Array | None = None  # (n_l, m)  0/1 dropout mask of A[l] = g(Z[l]) * D[l] / keep_prob; None: none


def init_params(key, layer_dims, *, method="he", dtype=jnp.float32):
    """Random W[l] (n_l, n_{l-1}) and zero b[l] (n_l, 1) for l = 1..L.

        he      W = randn * sqrt(2 / n_{l-1})            (for relu)
        xavier  W = randn * sqrt(2 / (n_{l-1} + n_l))    (Glorot normal, for tanh/sigmoid)
        ng      W = randn / sqrt(n_{l-1})                (the course's deep-network init)
        small   W = randn * 0.01                         (the course's 2-layer init)
    """
    shapes.key(key)
    shapes.choice("method", method, INIT_METHODS)
    layer_dims = tuple(layer_dims) if isinstance(layer_dims, (list, tuple)) else (layer_dims,)
    whole = lambda n: isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))  # noqa: E731
    if len(layer_dims) < 2 or not all(whole(n) and n >= 1 for n in layer_dims):
        raise ValueError(f"layer_dims must be (n_x, n_1, ..., n_L) with at least 2 positive ints, got {layer_dims}")
    layer_dims = tuple(int(n) for n in layer_dims)  # NumPy ints too (a shape read from an array)
    try:
        floating = dtype is not None and jnp.issubdtype(dtype, jnp.floating)  # None would be the x64 default
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"dtype must be a floating dtype, got {dtype!r}")
    keys = jax.random.split(key, len(layer_dims) - 1)
    params = []
    for l in range(1, len(layer_dims)):
        n_prev, n_l = layer_dims[l - 1], layer_dims[l]
        scale = {"he": (2 / n_prev) ** 0.5, "xavier": (2 / (n_prev + n_l)) ** 0.5,
                 "ng": n_prev ** -0.5, "small": 0.01}[method]
        W = scale * jax.random.normal(keys[l - 1], (n_l, n_prev), dtype)  # (n_l, n_{l-1})
        params.append(Layer(W=W.astype(dtype), b=jnp.zeros((n_l, 1), dtype)))
    return tuple(params)


def linear_forward(A_prev, W, b):
    """Z = W @ A_prev + b: (n_l, n_{l-1}) @ (n_{l-1}, m) + (n_l, 1) -> (n_l, m)."""
    for name, x in (("A_prev", A_prev), ("W", W), ("b", b)):
        shapes.float_array(name, x)
    if W.shape[1] != A_prev.shape[0] or b.shape != (W.shape[0], 1):
        raise ValueError(f"linear_forward needs W (n_l, n_prev), A_prev (n_prev, m), b (n_l, 1); "
                         f"got W {tuple(W.shape)}, A_prev {tuple(A_prev.shape)}, b {tuple(b.shape)}")
    shapes.same_dtype("A_prev", A_prev, W.dtype, "W")
    shapes.same_dtype("b", b, W.dtype, "W")
    for name, x in (("A_prev", A_prev), ("W", W), ("b", b)):
        shapes.finite(name, x)
    return _linear(A_prev, W, b, "columns")


def _linear(A_prev, W, b, layout):
    """Z[l] = W[l] A[l-1] + b[l] in Ng's layout; its transpose A[l-1].T W[l].T + b[l].T for rows."""
    return W @ A_prev + b if layout == "columns" else A_prev @ W.T + b.T  # (n_l, m) or (m, n_l)


def _g(name, Z, layout):
    """g(Z); softmax normalises over the classes, axis 0 in Ng's layout, axis 1 in rows."""
    return activations.g(name)(Z) if layout == "columns" or name != "softmax" else activations.softmax(Z.T).T


def _drop(A, D, keep_prob):
    """Inverted dropout: A * D / keep_prob (D of 0/1, so E[A * D / keep_prob] = A)."""
    return A * D.astype(A.dtype) / jnp.asarray(keep_prob, A.dtype)


def _forward(params, X, hidden, output, keep_prob=1.0, masks=None, layout="columns"):
    """The forward loop, unchecked: masks (D[1], ..., D[L-1]) or None; layout "rows" takes X.T, masks D.T."""
    caches = []
    A = X  # A[0] = X, (n_x, m)
    for l, layer in enumerate(params, start=1):
        A_prev, Z = A, _linear(A, layer.W, layer.b, layout)  # (n_l, m)
        D = masks[l - 1] if masks is not None and l < len(params) else None
        A = _g(output if l == len(params) else hidden, Z, layout)
        if D is not None:
            A = _drop(A, D, keep_prob)  # A[l] = g(Z[l]) * D[l] / keep_prob
        caches.append(Cache(A_prev=A_prev, Z=Z, D=D))
    return A, tuple(caches)


def dropout_masks(key, params, m, *, keep_prob, layout="columns"):
    """D[l] (n_l, m) for l = 1..L-1, each entry 1 with probability keep_prob, else 0, in the params' dtype.

    The course's D = (np.random.rand(n_l, m) < keep_prob); one key per layer, split from `key`.
    layout="rows" draws the transposes (m, n_l).
    """
    shapes.key(key)
    dims = shapes.layer_dims_of(params, check_values=False)
    shapes.count("m", m)
    shapes.scalar("keep_prob", keep_prob, low=0, high=1, low_open=True)
    shapes.choice("layout", layout, shapes.LAYOUTS)
    return _draw(key, dims, m, keep_prob, params[0].W.dtype, layout)


def _draw(key, dims, m, keep_prob, dtype, layout="columns"):
    keys = jax.random.split(key, max(len(dims) - 2, 1))
    shape = (lambda n: (n, m)) if layout == "columns" else (lambda n: (m, n))
    hidden_widths = dims[1:-1]  # n_1 .. n_{L-1}; none for L = 1
    return tuple(jax.random.bernoulli(k, keep_prob, shape(n)).astype(dtype)
                 for k, n in zip(keys, hidden_widths, strict=False))


def _check(params, X, Y, *, hidden, output, keep_prob, masks, key, debug, reduction="mean", m=None, mask=None,
           lambd=0.0):
    """Validate the arguments of forward/cost/autodiff_grads (Y = shapes.NO_LABELS for forward); return the
    dropout masks (drawn from key if given)."""
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("reduction", reduction, shapes.REDUCTIONS)
    shapes.flag("debug", debug)
    m_local = shapes.data(params, X, Y, output=output, debug=debug)
    shapes.mask(mask, m_local, debug=debug)
    shapes.count("m", m, debug=debug, at_least=shapes.real_examples(m_local, mask))
    shapes.scalar("lambd", lambd, low=0, debug=debug)
    shapes.dropout(params, m_local, keep_prob=keep_prob, masks=masks, key_=key, debug=debug)
    if key is not None:
        return _draw(key, shapes.layer_dims_of(params, check_values=False), m_local, keep_prob, X.dtype)
    return None if masks is None else tuple(masks)


def forward(params, X, *, hidden="relu", output="sigmoid", keep_prob=1.0, masks=None, key=None, debug=False):
    """A[l] = g(W[l] A[l-1] + b[l]) for l = 1..L, with A[0] = X; returns (AL, caches).

        Z[l] = W[l] @ A[l-1] + b[l]       (n_l, m)
        A[l] = g_hidden(Z[l]), l < L;  AL = A[L] = g_output(Z[L])
        with dropout: A[l] = A[l] * D[l] / keep_prob for l < L   (inverted dropout)
    caches[l-1] = Cache(A[l-1], Z[l], D[l]). Dropout needs keep_prob < 1 and either masks =
    (D[1], ..., D[L-1]), each (n_l, m) of 0/1, or a key to draw them (see dropout_masks); no default key.
    Values (NaN/Inf, 0/1 masks, keep_prob) are checked on concrete arrays; under jit only with debug=True
    inside checkify (see shapes.py).
    """
    masks = _check(params, X, shapes.NO_LABELS, hidden=hidden, output=output, keep_prob=keep_prob, masks=masks, key=key,
                   debug=debug)
    return _forward(params, X, hidden, output, keep_prob, masks)


def _cost(params, X, Y, hidden, output, reduction, m=None, mask=None, lambd=0.0, keep_prob=1.0, masks=None,
          layout="columns"):
    _, caches = _forward(params, X, hidden, output, keep_prob, masks, layout)
    return _cost_from(params, caches, Y, output, reduction, m, mask, lambd, layout)


def _cost_from(params, caches, Y, output, reduction, m, mask, lambd, layout="columns"):
    """J from the forward's caches: the loss from the logits Z[L], reduced, plus L2's term."""
    ZL, Y = (caches[-1].Z, Y) if layout == "columns" else (caches[-1].Z.T, Y.T)
    mask = mask if mask is None or layout == "columns" else mask.T
    per_example_loss = costs._loss_from_logits(ZL, Y, output)  # (1, m)
    no_l2 = isinstance(lambd, (int, float)) and lambd == 0  # a traced lambd always adds its term
    penalty = None if no_l2 else costs.l2_penalty([layer.W for layer in params], lambd)
    return costs._reduce(per_example_loss, reduction, m, mask, penalty)


def cost(params, X, Y, *, hidden="relu", output="sigmoid", reduction="mean", m=None, mask=None, lambd=0.0,
         keep_prob=1.0, masks=None, key=None, debug=False):
    """J(params) = (1/m) sum_i L(i) + (lambd/2m) sum_l ||W[l]||_F^2, L computed stably from the logits Z[L].

        reduction="mean":  J = (1/m) sum_i L(i) + (lambd / 2m) sum_l ||W[l]||^2     (the course's L2 cost)
        reduction="sum":   J = sum_i L(i) + (lambd / 2) sum_l ||W[l]||^2            (so sum = m * mean)
    m and mask are for a shard of a larger batch: m is the global number of examples the
    mean divides by, mask (1, m_local) of 0/1 marks the real (unpadded) columns. keep_prob,
    masks and key are forward's dropout: J of the thinned network these masks select.
    Values (NaN/Inf, labels, masks, m, lambd, keep_prob) are checked on concrete arrays; under the
    caller's jit only with debug=True inside jax.experimental.checkify (see shapes.py).
    """
    masks = _check(params, X, Y, hidden=hidden, output=output, keep_prob=keep_prob, masks=masks, key=key, debug=debug,
                   reduction=reduction, m=m, mask=mask, lambd=lambd)
    return _cost(params, X, Y, hidden, output, reduction, m, mask, lambd, keep_prob, masks)


def autodiff_grads(params, X, Y, *, hidden="relu", output="sigmoid", reduction="mean", m=None, mask=None, lambd=0.0,
                   keep_prob=1.0, masks=None, key=None, debug=False):
    """jax.grad of cost: a tuple of Layer(W=dW, b=db) mirroring params (the exact reference).

    Arguments as for cost; with keep_prob < 1 pass the forward's masks (or its key) to get the
    gradient of the same thinned network the hand-written backward sees.
    """
    masks = _check(params, X, Y, hidden=hidden, output=output, keep_prob=keep_prob, masks=masks, key=key, debug=debug,
                   reduction=reduction, m=m, mask=mask, lambd=lambd)
    return jax.grad(_cost)(params, X, Y, hidden, output, reduction, m, mask, lambd, keep_prob, masks)


def per_example_grads(params, X, Y, *, hidden="relu", output="sigmoid", debug=False):
    """Gradients of each example's own loss L(i), by vmap over the m columns.

    Returns params-shaped Layers with a leading axis m: W (m, n_l, n_{l-1}), b (m, n_l, 1).
    Their mean over axis 0 is the batch gradient of the mean cost; their sum, of the sum cost.
    """
    _check(params, X, Y, hidden=hidden, output=output, keep_prob=1.0, masks=None, key=None, debug=debug)

    def one_example_grads(x, y):  # x (n_x,), y (n_y,)
        return jax.grad(_cost)(params, x[:, None], y[:, None], hidden, output, "sum")

    return jax.vmap(one_example_grads, in_axes=(1, 1))(X, Y)


def predict(params, X, *, hidden="relu", output="sigmoid", debug=False):
    """Predicted labels: (AL > 1/2) as 0/1 for sigmoid (n_y, m); argmax class (m,) for softmax; AL otherwise."""
    AL, _ = forward(params, X, hidden=hidden, output=output, debug=debug)
    if output == "sigmoid":
        return (AL > 0.5).astype(AL.dtype)
    if output == "softmax":
        return jnp.argmax(AL, axis=0)
    return AL
