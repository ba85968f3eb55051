"""Activations g(Z) and their derivatives g'(Z), each written once, in one table.

Contract
    Every g and g' is elementwise on Z of any shape, except softmax, which normalises over
    axis 0 (the n_y classes of one example column, Ng's layout).
    g' always takes Z, never A: the course's "sigmoid_backward(dA, cache)" evaluates g'(Z).
    At the kinks g' equals what jax.grad of the same g returns, because g and g' use the
    same jnp.where predicate:
        relu'(0) = 0            (predicate Z > 0, as jax.nn.relu)
        leaky_relu'(0) = 1      (predicate Z >= 0, as jax.nn.leaky_relu)
    leaky_relu's slope defaults to 0.01, as in jax.nn and PyTorch.
"""

from typing import Literal

import jax
import jax.numpy as jnp

Hidden = Literal["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
Output = Literal["sigmoid", "softmax", "identity", "tanh"]

LEAKY_SLOPE = 0.01


def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)), computed without overflow for large |Z|."""
    return jax.nn.sigmoid(Z)


def sigmoid_prime(Z):
    """g'(Z) = s (1 - s) with s = sigmoid(Z)."""
    s = sigmoid(Z)
    return s * (1 - s)


def tanh(Z):
    """A = tanh(Z)."""
    return jnp.tanh(Z)


def tanh_prime(Z):
    """g'(Z) = 1 - tanh(Z)^2."""
    return 1 - jnp.tanh(Z) ** 2


def relu(Z):
    """A = Z where Z > 0, else 0 (0 * Z, so a NaN in Z stays NaN instead of becoming 0)."""
    return jnp.where(Z > 0, Z, 0 * Z)


def relu_prime(Z):
    """g'(Z) = 1 where Z > 0, else 0 (so g'(0) = 0, as jax.grad of relu says)."""
    return jnp.where(Z > 0, jnp.ones_like(Z), jnp.zeros_like(Z))


def leaky_relu(Z, slope=LEAKY_SLOPE):
    """A = Z where Z >= 0, else slope * Z."""
    return jnp.where(Z >= 0, Z, slope * Z)


def leaky_relu_prime(Z, slope=LEAKY_SLOPE):
    """g'(Z) = 1 where Z >= 0, else slope (so g'(0) = 1, as jax.grad of leaky_relu says)."""
    return jnp.where(Z >= 0, jnp.ones_like(Z), jnp.full_like(Z, slope))


def identity(Z):
    """A = Z."""
    return Z


def identity_prime(Z):
    """g'(Z) = 1."""
    return jnp.ones_like(Z)


def softmax(Z):
    """A[k, i] = exp(Z[k, i]) / sum_j exp(Z[j, i]): a distribution over classes per column."""
    return jax.nn.softmax(Z, axis=0)


def softmax_backward(dA, Z):
    """dZ = A * (dA - sum_k A[k] dA[k]) per column: softmax's Jacobian is not diagonal."""
    A = softmax(Z)
    return A * (dA - jnp.sum(A * dA, axis=0, keepdims=True))


# name -> (g, g'); softmax has no elementwise g' and is handled by softmax_backward.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "leaky_relu": (leaky_relu, leaky_relu_prime),
    "identity": (identity, identity_prime),
    "softmax": (softmax, None),
}
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUTS = ("sigmoid", "softmax", "identity", "tanh")


def _known(name, names=tuple(ACTIVATIONS)):
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"activation must be one of {', '.join(map(repr, names))}; got {name!r}")
    return name


def g(name):
    """The activation function called `name` (see ACTIVATIONS); ValueError listing them for any other name."""
    return ACTIVATIONS[_known(name)][0]


def g_prime(name):
    """The derivative g' called `name`; it takes Z. Softmax has none (its Jacobian is not diagonal)."""
    return ACTIVATIONS[_known(name, HIDDEN)][1]
