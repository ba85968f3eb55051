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
    Regularization (lambd, keep_prob): L2's term of J, (lambd/2m) sum ||W||^2, has the gradient
        dW[l] += (lambd/m) W[l]   deferred and absorbed   (it is a gradient of J, not part of dZ,
                                  so "absorbed" adds it too: its dZ carries the loss's 1/m only)
        dW[l] += lambd W[l]       sum
    and inverted dropout, A[l] = g(Z[l]) * D[l] / keep_prob in the forward, gives
        dA[l] = dA[l] * D[l] / keep_prob   before dZ[l] = dA[l] * g'(Z[l])
    with D[l] from the caches (Cache.D); BackwardStep.dA_prev stays W.T @ dZ, the gradient w.r.t.
    the A[l-1] the forward returned (after its dropout).
    One loop serves both layouts: "rows" (fast.py) holds every activation transposed, (m, n_l),
    and every caller: jaxbp.checking.diagnose runs its candidate mistakes through it with a piece
    swapped (a Swap) on NumPy float64 arrays, in NumPy: the loop uses only what both array kinds
    share (@, *, .T, .sum, .astype), so nothing is compiled for a diagnosis.
    g' at kinks: see activations.py.
    Every public function validates its arguments first (shapes.py): choices, shapes, dtypes, m,
    mask, lambd, keep_prob, and on concrete arrays that the caches come from a forward of these
    params with this activation and keep_prob (a ValueError naming the layer otherwise).
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import activations, model, shapes
from jaxbp.model import Layer

Placement = Literal["deferred", "absorbed", "sum"]  # where 1/m goes; "sum" means J is a sum
Start = Literal["dZL", "dAL"]


_NONE = MappingProxyType({})  # no layer swapped


class Swap(NamedTuple):
    """Pieces of the backward loop swapped at chosen layers l (a diagnosis candidate); empty: the course's.

        A_prev[l]    A[l-1] in dW[l] = s dZ[l] A[l-1].T
        W[l]         W[l] in dA[l-1] = W[l].T dZ[l]  (W[l].T here: W not transposed); not in the L2 term
        lambd[l]     lambd in dW[l]'s L2 term (lambd/m) W[l]
        mask[l]      D[l] / keep_prob in dA[l] = dA[l] * D[l] / keep_prob
        g_prime[l]   g'(Z[l]) in dZ[l] = dA[l] * g'(Z[l])
        upstream[l]  k: dZ[l] = dA[k] * g'(Z[l]), with dA[L] = dAL (the course's, given here)
    """

    A_prev: Mapping = _NONE
    W: Mapping = _NONE
    lambd: Mapping = _NONE
    mask: Mapping = _NONE
    g_prime: Mapping = _NONE
    upstream: Mapping = _NONE
    dAL: object = None


NO_SWAP = Swap()


class BackwardStep(NamedTuple):
    """The chain-rule factors of layer l, kept when backward(..., intermediates=True)."""

    dZ: jax.Array  # (n_l, m)        dZ[l]
    dA_prev: jax.Array  # (n_{l-1}, m)  dA[l-1]; dA[0] is the gradient w.r.t. X


def linear_backward(dZ, A_prev, W, *, placement="deferred", m=None, debug=False):
    """Backward step through Z = W @ A_prev + b for one layer; returns (dA_prev, dW, db).

        dW      = s * dZ @ A_prev.T         (n_l, n_{l-1})
        db      = s * sum over examples dZ  (n_l, 1)
        dA_prev = W.T @ dZ                  (n_{l-1}, m)    never scaled
    where s = 1/m for placement="deferred" (Ng's notes) and 1 for "absorbed" and "sum".
    """
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    for name, x in (("dZ", dZ), ("A_prev", A_prev), ("W", W)):
        shapes.float_array(name, x)
    n_l, n_prev = W.shape
    if tuple(A_prev.shape) != (n_prev, A_prev.shape[1]) or tuple(dZ.shape) != (n_l, A_prev.shape[1]):
        raise ValueError(f"linear_backward needs dZ (n_l, m), A_prev (n_prev, m), W (n_l, n_prev); got dZ "
                         f"{tuple(dZ.shape)}, A_prev {tuple(A_prev.shape)}, W {tuple(W.shape)}")
    shapes.same_dtype("dZ", dZ, W.dtype, "W")
    shapes.same_dtype("A_prev", A_prev, W.dtype, "W")
    shapes.flag("debug", debug)
    for name, x in (("dZ", dZ), ("A_prev", A_prev), ("W", W)):
        shapes.finite(name, x, debug=debug)
    shapes.count("m", m, debug=debug, at_least=A_prev.shape[1])
    return _linear_backward(dZ, A_prev, W, placement, m, "columns")


def _linear_backward(dZ, A_prev, W, placement, m, layout):
    """linear_backward unchecked; layout="rows" holds dZ (m, n_l), A_prev (m, n_{l-1}) and returns dA_prev.T."""
    if layout == "columns":
        dW = dZ @ A_prev.T  # (n_l, n_{l-1})
        db = dZ.sum(axis=1, keepdims=True)  # (n_l, 1)
        dA_prev = W.T @ dZ  # (n_{l-1}, m)
    else:
        dW = dZ.T @ A_prev  # (n_l, n_{l-1}): the same product, contracted over the rows' m
        db = dZ.sum(axis=0, keepdims=True).T  # (n_l, 1)
        dA_prev = dZ @ W  # (m, n_{l-1}) = dA[l-1].T
    if placement == "deferred":  # after the product, as Ng writes it: its numerics in every layout
        m = A_prev.shape[1 if layout == "columns" else 0] if m is None else m
        dW, db = over_m(dW, m), over_m(db, m)
    return dA_prev, dW, db


def over_m(x, m):
    """x / m, correctly rounded to x's dtype: divided in float32 at least, since a 16-bit m
    overflows (float16 holds at most 65504) and a 16-bit 1/m is subnormal for large m."""
    wide = np.promote_types(x.dtype, np.float32)  # = jnp.promote_types for every float dtype, and 10x cheaper
    return ((x if x.dtype == wide else x.astype(wide)) / m).astype(x.dtype, copy=False)


def _l2_grad(W, lambd, placement, m):
    """The L2 term's gradient: (lambd/m) W for a mean cost (deferred, absorbed), lambd W for a sum."""
    wide = np.promote_types(W.dtype, np.float32)
    term = lambd * (W if W.dtype == wide else W.astype(wide))
    return (term if placement == "sum" else term / m).astype(W.dtype, copy=False)


def _is_zero(lambd):
    """lambd is a Python 0 (no L2 term); a traced lambd always adds its term."""
    return isinstance(lambd, (int, float)) and lambd == 0


def activation_backward(dA, Z, *, activation):
    """dZ = dA * g'(Z), elementwise; for softmax, dZ = A * (dA - sum_k A_k dA_k) per column."""
    shapes.choice("activation", activation, tuple(activations.ACTIVATIONS))
    shapes.array("dA", dA)
    shapes.array("Z", Z, ndim=2 if activation == "softmax" else None)
    if tuple(dA.shape) != tuple(Z.shape):
        raise ValueError(f"dA must have Z's shape {tuple(Z.shape)}, got {tuple(dA.shape)}")
    shapes.same_dtype("dA", dA, Z.dtype, "Z")
    shapes.finite("dA", dA)
    shapes.finite("Z", Z)
    return _activation_backward(dA, Z, activation)


def _activation_backward(dA, Z, activation):
    if activation == "softmax":
        return activations.softmax_backward(dA, Z)
    return dA * activations.g_prime(activation)(Z)


def output_dAL(AL, Y, *, output):
    """The course's dAL = dL/dAL per example, from the probabilities AL (n_y, m).

        sigmoid   dAL = -(Y / AL - (1 - Y) / (1 - AL))
        softmax   dAL = -Y / AL
        identity, tanh (1/2 squared error)   dAL = AL - Y
    """
    shapes.choice("output", output, activations.OUTPUTS)
    if output == "sigmoid":
        return -(Y / AL - (1 - Y) / (1 - AL))
    if output == "softmax":
        return -Y / AL
    return AL - Y


def output_dZL(AL, Y, caches, *, output, start, placement, m, mask=None):
    """dZ[L] under `start` and `placement`: AL - Y (or the dAL chain), times 1/m if absorbed.

    mask (1, m) of 0/1 zeroes padded columns with jnp.where, so a NaN/Inf there never leaks.
    """
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("start", start, shapes.STARTS)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    Y = Y.astype(AL.dtype)
    if start == "dZL":
        dZL = AL - Y  # (n_y, m)
    else:
        dAL = output_dAL(AL, Y, output=output)
        if placement == "absorbed":
            dAL = over_m(dAL, m)  # absorbed: 1/m enters once, here, and rides down the chain
        dZL = _activation_backward(dAL, caches[-1].Z, output)
    if start == "dZL" and placement == "absorbed":
        dZL = over_m(dZL, m)
    if mask is not None:
        dZL = jnp.where(mask != 0, dZL, 0)  # padded columns contribute nothing (not * mask: NaN * 0 = NaN)
    return dZL


def _backward_loop(dZL, params, caches, hidden, placement, m, lambd=0.0, keep_prob=1.0, layout="columns",
                   swap=NO_SWAP):
    """The one backward loop, unchecked; caches and dZ[L] in `layout`. Returns (grads, steps).

    swap replaces pieces at chosen layers (jaxbp.checking.diagnose's candidates); see Swap.
    """
    L = len(params)
    grads, steps, dA = [None] * L, [None] * L, {L: swap.dAL}
    m_l2 = dZL.shape[1 if layout == "columns" else 0] if m is None else m
    dZ = dZL
    for l in range(L, 0, -1):
        W, cache = params[l - 1].W, caches[l - 1]
        A_prev, W_dA = swap.A_prev.get(l, cache.A_prev), swap.W.get(l, W)
        dA_prev, dW, db = _linear_backward(dZ, A_prev, W_dA, placement, m, layout)  # dA[l-1] = W[l].T dZ[l]
        if not _is_zero(lambd_l := swap.lambd.get(l, lambd)):
            dW = dW + _l2_grad(W, lambd_l, placement, m_l2)  # dW[l] += (lambd/m) W[l]
        grads[l - 1], steps[l - 1] = Layer(W=dW, b=db), BackwardStep(dZ=dZ, dA_prev=dA_prev)
        if l > 1:
            below = caches[l - 2]
            dA[l - 1] = _dropout_backward(dA_prev, below.D, keep_prob, swap.mask.get(l - 1))  # * D / keep_prob
            g_prime_Z = swap.g_prime[l - 1] if l - 1 in swap.g_prime else activations.g_prime(hidden)(below.Z)
            dZ = dA[swap.upstream.get(l - 1, l - 1)] * g_prime_Z  # dZ[l-1] = dA[l-1] * g'(Z[l-1]), either layout
    plain = isinstance(params, (list, tuple)) and not hasattr(params, "_fields")
    grads = type(params)(grads) if plain else tuple(grads)  # mirror params: a list stays a list
    return grads, tuple(steps)


def _dropout_backward(dA, D, keep_prob, M=None):
    """dA[l] * D[l] / keep_prob, inverted dropout's backward (dA itself without dropout); M: D / keep_prob swapped."""
    if M is not None:
        return dA * M
    return dA if D is None else model._drop(dA, D, keep_prob)


def backward_from(dZL, params, caches, *, hidden, placement="deferred", m=None, lambd=0.0, keep_prob=1.0,
                  intermediates=False, debug=False):
    """Backprop from a given dZ[L] (n_L, m) down to layer 1 (the loop of `backward`)."""
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.layer_dims_of(params, debug=debug)
    shapes.float_array("dZL", dZL)
    m_local = dZL.shape[1]
    if dZL.shape[0] != params[-1].W.shape[0]:
        raise ValueError(f"dZL must be (n[L], m) = ({params[-1].W.shape[0]}, {m_local}), got {tuple(dZL.shape)}")
    shapes.same_dtype("dZL", dZL, params[0].W.dtype, "the params")
    shapes.flag("intermediates", intermediates)
    shapes.finite("dZL", dZL, debug=shapes.flag("debug", debug))
    _check_options(params, caches, m_local, hidden=hidden, m=m, lambd=lambd, keep_prob=keep_prob, debug=debug)
    grads, steps = _backward_loop(dZL, params, caches, hidden, placement, m, lambd, keep_prob)
    return (grads, steps) if intermediates else grads


def _check_options(params, caches, m_local, *, hidden, m, lambd, keep_prob, debug, output=None, AL=None, mask=None):
    shapes.count("m", m, debug=debug, at_least=shapes.real_examples(m_local, mask))
    shapes.scalar("lambd", lambd, low=0, debug=debug)
    shapes.scalar("keep_prob", keep_prob, low=0, high=1, low_open=True, debug=debug)
    shapes.caches(params, caches, m_local, hidden=hidden, output=output, AL=AL, keep_prob=keep_prob, debug=debug)


def backward(params, caches, AL, Y, *, hidden, output, placement="deferred", start="dZL", m=None, mask=None,
             lambd=0.0, keep_prob=1.0, intermediates=False, debug=False):
    """Hand-written grads of J: a tuple of Layer(W=dW, b=db) mirroring params.

        dZ[L] = AL - Y  (start="dZL")  or  dAL * g'(Z[L])  (start="dAL"), /m if absorbed
        for l = L..1:
            dW[l] = s dZ[l] A[l-1].T (+ (lambd/m) W[l]);  db[l] = s sum_i dZ[l];  dA[l-1] = W[l].T dZ[l]
            dZ[l-1] = dA[l-1] (* D[l-1] / keep_prob) * g'(Z[l-1])
    with s = 1/m only for placement="deferred". hidden and output have no defaults: they must be
    the forward's, and on concrete arrays the caches are checked against them (A[l] = g(Z[l])).
    With intermediates=True returns (grads, steps): steps[l-1] = BackwardStep(dZ[l], dA[l-1]).
    m overrides the divisor (the global m when this is one shard); mask (1, m) of 0/1 drops
    padded columns. keep_prob must be the forward's; the masks D come from the caches.
    Under the caller's jit the value checks need debug=True inside checkify (see shapes.py).
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    if start == "dZL" and output == "tanh":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh' with squared error; "
                         "use start='dAL'")
    shapes.layer_dims_of(params, debug=debug)
    m_local = shapes.float_array("AL", AL).shape[1]
    shapes.labels(Y, n_y=params[-1].W.shape[0], m=m_local, output=output, debug=debug)
    shapes.flag("intermediates", intermediates)
    shapes.mask(mask, m_local, debug=shapes.flag("debug", debug))
    _check_options(params, caches, m_local, hidden=hidden, m=m, lambd=lambd, keep_prob=keep_prob, debug=debug,
                   output=output, AL=AL, mask=mask)
    dZL = output_dZL(AL, Y, caches, output=output, start=start, placement=placement,
                     m=m_local if m is None else m, mask=mask)
    grads, steps = _backward_loop(dZL, params, caches, hidden, placement, m, lambd, keep_prob)
    return (grads, steps) if intermediates else grads


def reduction_for(placement):
    """The cost whose gradient a placement computes: "mean" for deferred/absorbed, "sum" for sum."""
    return "sum" if shapes.choice("placement", placement, shapes.PLACEMENTS) == "sum" else "mean"
