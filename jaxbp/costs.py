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
    The 1/m lives here and in the placement of backprop, never hidden anywhere else. A padding
    mask drops examples with jnp.where (never NaN * 0); L2's (lambd/2) sum ||W||^2 joins the sum
    before the 1/m (see reduce).
"""

from typing import Literal

import jax
import jax.numpy as jnp

from jaxbp import activations, shapes

Reduction = Literal["mean", "sum"]


def _checked(name, A, Y, output, debug=False):
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.flag("debug", debug)
    shapes.float_array(name, A)
    shapes.labels(Y, n_y=A.shape[0], m=A.shape[1], output=output, debug=debug)
    shapes.finite(name, A, debug=debug)


def loss_from_logits(ZL, Y, *, output, debug=False):
    """Per-example loss from the logits ZL (n_y, m), stable for large |ZL|; returns (1, m).

        sigmoid   L = softplus(z) - y z               = -(y log s(z) + (1-y) log(1-s(z)))
        softmax   L = -sum_k y_k log_softmax(z)_k
        identity  L = 1/2 sum_k (z_k - y_k)^2
        tanh      L = 1/2 sum_k (tanh(z_k) - y_k)^2
    """
    _checked("ZL", ZL, Y, output, debug)
    return _loss_from_logits(ZL, Y, output)


def _loss_from_logits(ZL, Y, output):
    Y = Y.astype(ZL.dtype)
    if output == "sigmoid":
        per_unit = jnp.logaddexp(jnp.zeros_like(ZL), ZL) - Y * ZL  # (n_y, m)
    elif output == "softmax":
        per_unit = -Y * jax.nn.log_softmax(ZL, axis=0)
    elif output == "identity":
        per_unit = 0.5 * (ZL - Y) ** 2
    else:  # tanh
        per_unit = 0.5 * (jnp.tanh(ZL) - Y) ** 2
    return jnp.sum(per_unit, axis=0, keepdims=True)  # (1, m)


def loss_from_probabilities(AL, Y, *, output, debug=False):
    """Per-example loss from AL = g(ZL), the course's form; returns (1, m).

    Not stable: for sigmoid, log(1 - AL) is -Inf once AL rounds to 1 (ZL >= ~17 in float32).
    For sigmoid and softmax AL must be probabilities, in [0, 1].
    """
    _checked("AL", AL, Y, output, debug)
    if output in ("sigmoid", "softmax"):
        shapes.holds(lambda xp, A: (A >= 0) & (A <= 1), f"AL must hold probabilities in [0, 1] for output={output!r}",
                     AL, debug=debug, detail=lambda A: f", got values in [{A.min()}, {A.max()}]")
    Y = Y.astype(AL.dtype)
    if output == "sigmoid":
        per_unit = -(Y * jnp.log(AL) + (1 - Y) * jnp.log(1 - AL))
    elif output == "softmax":
        per_unit = -Y * jnp.log(AL)
    else:  # identity, tanh
        per_unit = 0.5 * (AL - Y) ** 2
    return jnp.sum(per_unit, axis=0, keepdims=True)


def reduce(per_example_loss, *, reduction="mean", m=None, mask=None, penalty=None, debug=False):
    """J from the (1, m) losses: their mean (default) or their sum, plus an optional penalty.

        mean:  J = (1/m) (sum_i L(i) + penalty)         sum:  J = sum_i L(i) + penalty
    m overrides the divisor of the mean (the global m when this is one shard of a batch);
    mask (1, m) of 0/1 drops padded examples from the sum with jnp.where, so a NaN or Inf in a
    padded column's loss never reaches J. penalty (a scalar, e.g. (lambd/2) sum_l ||W[l]||^2)
    joins the sum before the 1/m: the mean gets (lambd/2m) sum ||W||^2, the sum (lambd/2) sum ||W||^2.
    """
    shapes.choice("reduction", reduction, shapes.REDUCTIONS)
    shapes.float_array("per_example_loss", per_example_loss)
    if per_example_loss.shape[0] != 1:
        raise ValueError(f"per_example_loss must be (1, m), got {tuple(per_example_loss.shape)}")
    shapes.flag("debug", debug)
    shapes.mask(mask, per_example_loss.shape[1], debug=debug)
    shapes.count("m", m, debug=debug, at_least=shapes.real_examples(per_example_loss.shape[1], mask))
    return _reduce(per_example_loss, reduction, m, mask, penalty)


def _reduce(per_example_loss, reduction, m=None, mask=None, penalty=None):
    if mask is not None:
        per_example_loss = jnp.where(mask != 0, per_example_loss, 0)  # not * mask: NaN * 0 is NaN
    wide = jnp.promote_types(per_example_loss.dtype, jnp.float32)  # a float16 sum or m overflows past 65504
    total = jnp.sum(per_example_loss.astype(wide))
    if penalty is not None:
        total = total + penalty.astype(wide)
    if reduction == "mean":
        total = total / (per_example_loss.shape[1] if m is None else m)
    return total.astype(per_example_loss.dtype)


def l2_penalty(Ws, lambd):
    """(lambd/2) sum_l ||W[l]||_F^2 in float32 at least: the L2 term before the reduction's 1/m."""
    wide = jnp.promote_types(Ws[0].dtype, jnp.float32)
    return lambd / 2 * sum(jnp.sum(jnp.square(W.astype(wide))) for W in Ws)


def compute_cost(AL, Y, *, output="sigmoid", reduction="mean"):
    """The course's cost from probabilities: J = -(1/m) sum (y log a + (1-y) log(1-a)).

    Accepts course fixtures as they are (NumPy arrays, AL in [0, 1], 0/1 labels of any real dtype).
    For training and gradients prefer jaxbp.cost, which works from the logits and cannot overflow.
    """
    shapes.choice("reduction", reduction, shapes.REDUCTIONS)
    AL, Y = shapes.array("AL", AL), shapes.array("Y", Y, kinds="fib")
    return _reduce(loss_from_probabilities(jnp.asarray(AL), jnp.asarray(Y), output=output), reduction)
