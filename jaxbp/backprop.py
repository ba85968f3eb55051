"""Hand-written backpropagation, one line per equation of Ng's course.

Contract
    dZ, dA are chain-rule factors; only dW and db are gradients of J. Where the 1/m goes is
    the `placement` (m = the number of examples, X's columns unless given):
        deferred   dZ[L] = AL - Y         dW = (1/m) dZ A_prev.T    db = (1/m) sum_i dZ
        absorbed   dZ[L] = (AL - Y) / m   dW = dZ A_prev.T          db = sum_i dZ
        sum        dZ[L] = AL - Y         dW = dZ A_prev.T          db = sum_i dZ   (J = sum of L)
    and then, for every layer, never scaled:
        dA_prev = W.T @ dZ;   dZ[l-1] = dA[l-1] * g'(Z[l-1])
    So a deferred dZ[l] is the per-example dL/dZ[l] (column i is example i's own gradient)
    and an absorbed dZ[l] is dJ/dZ[l]: the two differ by exactly the factor 1/m.
    `start` says how dZ[L] is reached:
        dZL   the fused rule dZ[L] = AL - Y: exact for sigmoid+BCE, softmax+CE, identity+1/2 MSE
        dAL   the course's chain dAL = dL/dAL, dZ[L] = dAL * g'(Z[L]) (softmax: its Jacobian);
              works for any output (tanh+1/2 MSE needs it) but, being computed from AL, is NaN
              once sigmoid(Z[L]) rounds to 0 or 1 (Z[L] >= ~17 in float32).
    g' at kinks: see activations.py.
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxbp import activations, shapes
from jaxbp.model import Layer

Placement = Literal["deferred", "absorbed", "sum"]  # where 1/m goes; "sum" means J is a sum
Start = Literal["dZL", "dAL"]


class BackwardStep(NamedTuple):
    """The chain-rule factors of layer l, kept when backward(..., intermediates=True)."""

    dZ: jax.Array  # (n_l, m)        dZ[l]
    dA_prev: jax.Array  # (n_{l-1}, m)  dA[l-1]; dA[0] is the gradient w.r.t. X


def linear_backward(dZ, A_prev, W, *, placement="deferred", m=None):
    """Backward step through Z = W @ A_prev + b for one layer; returns (dA_prev, dW, db).

        dW      = s * dZ @ A_prev.T         (n_l, n_{l-1})
        db      = s * sum over examples dZ  (n_l, 1)
        dA_prev = W.T @ dZ                  (n_{l-1}, m)    never scaled
    where s = 1/m for placement="deferred" (Ng's notes) and 1 for "absorbed" and "sum".
    """
    dW = dZ @ A_prev.T  # (n_l, n_{l-1})
    db = jnp.sum(dZ, axis=1, keepdims=True)  # (n_l, 1)
    if placement == "deferred":
        m = A_prev.shape[1] if m is None else m
        dW, db = over_m(dW, m), over_m(db, m)
    dA_prev = W.T @ dZ  # (n_{l-1}, m)
    return dA_prev, dW, db


def over_m(x, m):
    """x / m, correctly rounded to x's dtype: divided in float32 at least, since a 16-bit m
    overflows (float16 holds at most 65504) and a 16-bit 1/m is subnormal for large m."""
    wide = jnp.promote_types(x.dtype, jnp.float32)
    return (x.astype(wide) / m).astype(x.dtype)


def activation_backward(dA, Z, *, activation):
    """dZ = dA * g'(Z), elementwise; for softmax, dZ = A * (dA - sum_k A_k dA_k) per column."""
    if activation == "softmax":
        return activations.softmax_backward(dA, Z)
    return dA * activations.g_prime(activation)(Z)


def output_dAL(AL, Y, *, output):
    """The course's dAL = dL/dAL per example, from the probabilities AL (n_y, m).

        sigmoid   dAL = -(Y / AL - (1 - Y) / (1 - AL))
        softmax   dAL = -Y / AL
        identity, tanh (1/2 squared error)   dAL = AL - Y
    """
    if output == "sigmoid":
        return -(Y / AL - (1 - Y) / (1 - AL))
    if output == "softmax":
        return -Y / AL
    return AL - Y


def output_dZL(AL, Y, caches, *, output, start, placement, m, mask=None):
    """dZ[L] under `start` and `placement`: AL - Y (or the dAL chain), times 1/m if absorbed."""
    Y = Y.astype(AL.dtype)
    if start == "dZL":
        dZL = AL - Y  # (n_y, m)
    else:
        dAL = output_dAL(AL, Y, output=output)
        if placement == "absorbed":
            dAL = over_m(dAL, m)  # absorbed: 1/m enters once, here, and rides down the chain
        dZL = activation_backward(dAL, caches[-1].Z, activation=output)
    if start == "dZL" and placement == "absorbed":
        dZL = over_m(dZL, m)
    if mask is not None:
        dZL = dZL * mask.astype(dZL.dtype)  # padded columns contribute nothing
    return dZL


def backward_from(dZL, params, caches, *, hidden, placement="deferred", m=None, intermediates=False):
    """Backprop from a given dZ[L] down to layer 1 (the loop of `backward`)."""
    grads, steps = [None] * len(params), [None] * len(params)
    dZ = dZL
    for l in range(len(params), 0, -1):
        layer, cache = params[l - 1], caches[l - 1]
        dA_prev, dW, db = linear_backward(dZ, cache.A_prev, layer.W, placement=placement, m=m)
        grads[l - 1], steps[l - 1] = Layer(W=dW, b=db), BackwardStep(dZ=dZ, dA_prev=dA_prev)
        if l > 1:
            dZ = activation_backward(dA_prev, caches[l - 2].Z, activation=hidden)  # dZ[l-1]
    grads = type(params)(grads) if isinstance(params, (list, tuple)) and not hasattr(params, "_fields") else tuple(grads)
    return (grads, tuple(steps)) if intermediates else grads


def backward(params, caches, AL, Y, *, hidden="relu", output="sigmoid", placement="deferred", start="dZL",
             m=None, mask=None, intermediates=False):
    """Hand-written grads of J: a tuple of Layer(W=dW, b=db) mirroring params.

        dZ[L] = AL - Y  (start="dZL")  or  dAL * g'(Z[L])  (start="dAL"), /m if absorbed
        for l = L..1:
            dW[l] = s dZ[l] A[l-1].T;  db[l] = s sum_i dZ[l];  dA[l-1] = W[l].T dZ[l]
            dZ[l-1] = dA[l-1] * g'(Z[l-1])
    with s = 1/m only for placement="deferred". With intermediates=True returns
    (grads, steps): steps[l-1] = BackwardStep(dZ[l], dA[l-1]). m overrides the divisor
    (the global m when this is one shard); mask (1, m) of 0/1 zeroes padded columns.
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    if start == "dZL" and output == "tanh":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh' with squared error; "
                         "use start='dAL'")
    shapes.layer_dims_of(params)
    m_local = AL.shape[1] if getattr(AL, "ndim", 0) == 2 else -1
    shapes.caches(params, caches, AL, m_local)
    shapes.labels(Y, n_y=params[-1].W.shape[0], m=m_local, output=output)
    if mask is not None and tuple(mask.shape) != (1, m_local):
        raise ValueError(f"mask must be (1, m) = (1, {m_local}), got {tuple(mask.shape)}")
    m = m_local if m is None else m
    dZL = output_dZL(AL, Y, caches, output=output, start=start, placement=placement, m=m, mask=mask)
    return backward_from(dZL, params, caches, hidden=hidden, placement=placement, m=m, intermediates=intermediates)


def reduction_for(placement):
    """The cost whose gradient a placement computes: "mean" for deferred/absorbed, "sum" for sum."""
    return "sum" if shapes.choice("placement", placement, shapes.PLACEMENTS) == "sum" else "mean"
