"""The L-layer network in Ng's notation: parameters, forward pass, cost and its jax.grad.

Contract
    X (n_x, m), one example per column; W[l] (n_l, n_{l-1}); b[l] (n_l, 1); Y (n_y, m).
    params is a tuple of Layer(W, b), params[l-1] holding W[l], b[l]; layer_dims =
    (n_x, n_1, ..., n_L). Hidden layers share one activation, the output layer has its own,
    and the output fixes the loss (see costs.py). J is a mean over m unless reduction="sum".
    Every function is pure; choices are keyword-only strings (static under jax.jit).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxbp import activations, costs, shapes

INIT_METHODS = ("he", "xavier", "ng", "small")


class Layer(NamedTuple):
    """One layer's parameters (or, mirroring them, its gradients dW, db)."""

    W: jax.Array  # (n_l, n_{l-1})
    b: jax.Array  # (n_l, 1)


class Cache(NamedTuple):
    """What the backward pass of one layer needs from the forward pass."""

    A_prev: jax.Array  # (n_{l-1}, m)
    Z: jax.Array  # (n_l, m)


def init_params(key, layer_dims, *, method="he", dtype=jnp.float32):
    """Random W[l] (n_l, n_{l-1}) and zero b[l] (n_l, 1) for l = 1..L.

        he      W = randn * sqrt(2 / n_{l-1})            (for relu)
        xavier  W = randn * sqrt(2 / (n_{l-1} + n_l))    (Glorot normal, for tanh/sigmoid)
        ng      W = randn / sqrt(n_{l-1})                (the course's deep-network init)
        small   W = randn * 0.01                         (the course's 2-layer init)
    """
    shapes.choice("method", method, INIT_METHODS)
    layer_dims = tuple(layer_dims)
    if len(layer_dims) < 2 or not all(isinstance(n, int) and n >= 1 for n in layer_dims):
        raise ValueError(f"layer_dims must be (n_x, n_1, ..., n_L) with at least 2 positive ints, got {layer_dims}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
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
    if A_prev.ndim != 2 or W.ndim != 2 or b.ndim != 2 or W.shape[1] != A_prev.shape[0] or b.shape != (W.shape[0], 1):
        raise ValueError(f"linear_forward needs W (n_l, n_prev), A_prev (n_prev, m), b (n_l, 1); "
                         f"got W {tuple(W.shape)}, A_prev {tuple(A_prev.shape)}, b {tuple(b.shape)}")
    return W @ A_prev + b


def _forward(params, X, hidden, output):
    caches = []
    A = X  # A[0] = X, (n_x, m)
    for l, layer in enumerate(params, start=1):
        Z = layer.W @ A + layer.b  # (n_l, m)
        caches.append(Cache(A_prev=A, Z=Z))
        A = activations.g(output if l == len(params) else hidden)(Z)
    return A, tuple(caches)


def forward(params, X, *, hidden="relu", output="sigmoid"):
    """A[l] = g(W[l] A[l-1] + b[l]) for l = 1..L, with A[0] = X; returns (AL, caches).

        Z[l] = W[l] @ A[l-1] + b[l]       (n_l, m)
        A[l] = g_hidden(Z[l]), l < L;  AL = A[L] = g_output(Z[L])
    caches[l-1] = Cache(A[l-1], Z[l]).
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.data(params, X)
    return _forward(params, X, hidden, output)


def _cost(params, X, Y, hidden, output, reduction, m=None, mask=None):
    _, caches = _forward(params, X, hidden, output)
    per_example_loss = costs.loss_from_logits(caches[-1].Z, Y, output=output)  # (1, m)
    return costs.reduce(per_example_loss, reduction=reduction, m=m, mask=mask)


def cost(params, X, Y, *, hidden="relu", output="sigmoid", reduction="mean", m=None, mask=None):
    """J(params) = (1/m) sum_i L(i) (or the sum), L computed stably from the logits Z[L].

    m and mask are for a shard of a larger batch: m is the global number of examples the
    mean divides by, mask (1, m_local) of 0/1 marks the real (unpadded) columns.
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("reduction", reduction, shapes.REDUCTIONS)
    shapes.data(params, X, Y, output=output)
    return _cost(params, X, Y, hidden, output, reduction, m, mask)


def autodiff_grads(params, X, Y, *, hidden="relu", output="sigmoid", reduction="mean", m=None, mask=None):
    """jax.grad of cost: a tuple of Layer(W=dW, b=db) mirroring params (the exact reference)."""
    cost(params, X, Y, hidden=hidden, output=output, reduction=reduction, m=m, mask=mask)  # validates
    return jax.grad(_cost)(params, X, Y, hidden, output, reduction, m, mask)


def per_example_grads(params, X, Y, *, hidden="relu", output="sigmoid"):
    """Gradients of each example's own loss L(i), by vmap over the m columns.

    Returns params-shaped Layers with a leading axis m: W (m, n_l, n_{l-1}), b (m, n_l, 1).
    Their mean over axis 0 is the batch gradient of the mean cost; their sum, of the sum cost.
    """
    shapes.data(params, X, Y, output=output)

    def one_example_grads(x, y):  # x (n_x,), y (n_y,)
        return jax.grad(_cost)(params, x[:, None], y[:, None], hidden, output, "sum")

    return jax.vmap(one_example_grads, in_axes=(1, 1))(X, Y)


def predict(params, X, *, hidden="relu", output="sigmoid"):
    """Predicted labels: (AL > 1/2) as 0/1 for sigmoid (n_y, m); argmax class (m,) for softmax; AL otherwise."""
    AL, _ = forward(params, X, hidden=hidden, output=output)
    if output == "sigmoid":
        return (AL > 0.5).astype(AL.dtype)
    if output == "softmax":
        return jnp.argmax(AL, axis=0)
    return AL
