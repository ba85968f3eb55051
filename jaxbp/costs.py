"""Per-example losses L(yhat, y) and the cost J, in Ng's layout (one example per column).

Contract
    The output activation fixes the loss:
        sigmoid   binary cross-entropy   L = -(y log a + (1 - y) log(1 - a))
        softmax   categorical CE         L = -sum_k y_k log a_k
        identity  half squared error     L = 1/2 sum_k (a_k - y_k)^2
        tanh      half squared error     L = 1/2 sum_k (a_k - y_k)^2   (a = tanh(z))
    `loss_from_logits` computes L from ZL = Z[L] and stays finite for |ZL| up to 1e4 in
    float32 (softplus and log_softmax instead of log(sigmoid)); `loss_from_probabilities`
    is the course's form, from AL = A[L], and overflows to Inf once sigmoid(ZL) rounds to 1.
    Both return (1, m): one loss per example. J reduces them:
        reduction="mean":  J = (1/m) sum_i L(i)      (the course's cost)
        reduction="sum":   J = sum_i L(i)
    The 1/m lives here and in the placement of backprop, never hidden anywhere else.
"""

from typing import Literal

import jax
import jax.numpy as jnp

from jaxbp import shapes

Reduction = Literal["mean", "sum"]


def loss_from_logits(ZL, Y, *, output):
    """Per-example loss from the logits ZL (n_y, m), stable for large |ZL|; returns (1, m).

        sigmoid   L = softplus(z) - y z               = -(y log s(z) + (1-y) log(1-s(z)))
        softmax   L = -sum_k y_k log_softmax(z)_k
        identity  L = 1/2 sum_k (z_k - y_k)^2
        tanh      L = 1/2 sum_k (tanh(z_k) - y_k)^2
    """
    Y = Y.astype(ZL.dtype)
    if output == "sigmoid":
        per_unit = jnp.logaddexp(jnp.zeros_like(ZL), ZL) - Y * ZL  # (n_y, m)
    elif output == "softmax":
        per_unit = -Y * jax.nn.log_softmax(ZL, axis=0)
    elif output == "identity":
        per_unit = 0.5 * (ZL - Y) ** 2
    elif output == "tanh":
        per_unit = 0.5 * (jnp.tanh(ZL) - Y) ** 2
    else:
        shapes.choice("output", output, ("sigmoid", "softmax", "identity", "tanh"))
    return jnp.sum(per_unit, axis=0, keepdims=True)  # (1, m)


def loss_from_probabilities(AL, Y, *, output):
    """Per-example loss from AL = g(ZL), the course's form; returns (1, m).

    Not stable: for sigmoid, log(1 - AL) is -Inf once AL rounds to 1 (ZL >= ~17 in float32).
    """
    Y = Y.astype(AL.dtype)
    if output == "sigmoid":
        per_unit = -(Y * jnp.log(AL) + (1 - Y) * jnp.log(1 - AL))
    elif output == "softmax":
        per_unit = -Y * jnp.log(AL)
    elif output in ("identity", "tanh"):
        per_unit = 0.5 * (AL - Y) ** 2
    else:
        shapes.choice("output", output, ("sigmoid", "softmax", "identity", "tanh"))
    return jnp.sum(per_unit, axis=0, keepdims=True)


def reduce(per_example_loss, *, reduction="mean", m=None, mask=None):
    """J from the (1, m) losses: their mean (default) or their sum.

    m overrides the divisor of the mean (the global m when this is one shard of a batch);
    mask (1, m) of 0/1 drops padded examples from the sum.
    """
    shapes.choice("reduction", reduction, shapes.REDUCTIONS)
    if mask is not None:
        per_example_loss = per_example_loss * mask
    wide = jnp.promote_types(per_example_loss.dtype, jnp.float32)  # a float16 sum or m overflows past 65504
    total = jnp.sum(per_example_loss.astype(wide))
    if reduction == "mean":
        total = total / (per_example_loss.shape[1] if m is None else m)
    return total.astype(per_example_loss.dtype)


def compute_cost(AL, Y, *, output="sigmoid", reduction="mean"):
    """The course's cost from probabilities: J = -(1/m) sum (y log a + (1-y) log(1-a)).

    Accepts course fixtures as they are (NumPy arrays, AL in (0, 1)). For training and
    gradients prefer jaxbp.cost, which works from the logits and cannot overflow.
    """
    AL = shapes.float_array("AL", jnp.asarray(AL) if hasattr(AL, "__array__") else AL)
    shapes.labels(jnp.asarray(Y), n_y=AL.shape[0], m=AL.shape[1], output=output)
    return reduce(loss_from_probabilities(AL, jnp.asarray(Y), output=output), reduction=reduction)
