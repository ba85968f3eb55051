"""The training step's cost and gradients in the layout that is fastest on the device.

Contract
    layout="columns" is Ng's layout and the core's own code (model._forward, backprop's
    output_dZL and backward_from, jax.grad of model._cost): X (n_x, m), one example per column.
    layout="rows" keeps the params as they are, W[l] (n_l, n_{l-1}), and the data transposed,
    one example per row, so every activation is the transpose of Ng's:
        ZT[l] = AT[l-1] @ W[l].T + b[l].T                 (m, n_l)          = Z[l].T
        dW[l] = s dZT[l].T @ AT[l-1];  db[l] = s sum_rows dZT[l]  (n_l, n_{l-1}), (n_l, 1)
        dAT[l-1] = dZT[l] @ W[l];  dZT[l-1] = dAT[l-1] * g'(ZT[l-1])  (m, n_{l-1}) = dA[l-1].T
    with s = 1/m for placement="deferred" (backprop.over_m), else 1, and dA[0] never formed. dZ[L] itself comes
    from backprop.output_dZL (on the small (n_y, m) transposes), so start, placement, m and
    mask mean what they mean there; grads are Layer(dW, db) in Ng's shapes in both layouts.
    s multiplies the (m, n_l) factor dZT before the product (the same value up to rounding),
    not the (n_l, n_{l-1}) product after it: for the cat net that pass over dW[1] (245,760
    numbers) had made the hand-written step 10% slower than jax.grad's (3.14 vs 2.86 ms on one
    core); now they are level (3.10 vs 3.13 ms).
    Why rows: XLA's CPU dot runs the cat net's first-layer products (12288 inputs, m = 209)
    faster with X stored example-major: X.T @ W.T 1.14 ms vs W @ X 1.44 ms, dZ @ X.T 1.73 ms vs
    2.59 ms (one core); the whole step 3.0 vs 4.7 ms. For narrow layers Ng's layout is faster
    (planar: 3.0 vs 6.8 us), since elementwise work vectorises along the minor axis.
"""

from typing import Literal

import jax
import jax.numpy as jnp

from jaxbp import activations, backprop, costs, model
from jaxbp.model import Cache, Layer

Layout = Literal["rows", "columns"]
LAYOUTS = ("rows", "columns")


def forward_rows(params, XT, hidden, output):
    """AT[l] = g(AT[l-1] @ W[l].T + b[l].T); returns (ALT (m, n_y), cachesT of Cache(AT[l-1], ZT[l]))."""
    cachesT, AT = [], XT  # AT[0] = X.T, (m, n_x)
    for l, layer in enumerate(params, start=1):
        ZT = AT @ layer.W.T + layer.b.T  # (m, n_l)
        cachesT.append(Cache(A_prev=AT, Z=ZT))
        AT = activations.g(hidden)(ZT) if l < len(params) else activations.g(output)(ZT.T).T  # softmax: per example
    return AT, tuple(cachesT)


def _reduce_rows(ZLT, YT, output, reduction, m, mask):
    per_example_loss = costs.loss_from_logits(ZLT.T, YT.T, output=output)  # (1, m)
    return costs.reduce(per_example_loss, reduction=reduction, m=m, mask=None if mask is None else mask.T)


def _cost_rows(params, XT, YT, hidden, output, reduction, m=None, mask=None):
    _, cachesT = forward_rows(params, XT, hidden, output)
    return _reduce_rows(cachesT[-1].Z, YT, output, reduction, m, mask)


def backward_rows(params, cachesT, ALT, YT, *, hidden, output, placement, start, m=None, mask=None):
    """Hand-written grads from the row-layout caches: a tuple of Layer(dW, db) in Ng's shapes."""
    m = ALT.shape[0] if m is None else m
    dZL = backprop.output_dZL(ALT.T, YT.T, (Cache(A_prev=None, Z=cachesT[-1].Z.T),), output=output, start=start,
                              placement=placement, m=m, mask=None if mask is None else mask.T)
    dZT = dZL.T  # (m, n_L)
    grads = [None] * len(params)
    for l in range(len(params), 0, -1):
        layer, cache = params[l - 1], cachesT[l - 1]
        s_dZT = backprop.over_m(dZT, m) if placement == "deferred" else dZT  # 1/m on the (m, n_l) factor
        dW = s_dZT.T @ cache.A_prev  # (n_l, n_{l-1})
        db = jnp.sum(s_dZT, axis=0, keepdims=True).T  # (n_l, 1)
        grads[l - 1] = Layer(W=dW, b=db)
        if l > 1:  # dA[0] is not needed
            dAT_prev = dZT @ layer.W  # (m, n_{l-1})
            dZT = dAT_prev * activations.g_prime(hidden)(cachesT[l - 2].Z)  # elementwise: either layout
    return tuple(grads)


def cost_and_grads(params, D, T, *, layout, hidden, output, grads_from, placement, start, m=None, mask=None):
    """(J, grads) of one batch: D, T are (X, Y) for layout="columns", (X.T, Y.T) for "rows".

    grads mirror params (Ng's shapes in both layouts). m is the divisor of the mean
    (None: the batch's size), mask the 0/1 real-example marks shaped like one row of T.T / T.
    """
    reduction = backprop.reduction_for(placement)
    if layout == "columns":
        if grads_from == "autodiff":
            return jax.value_and_grad(model._cost)(params, D, T, hidden, output, reduction, m, mask)
        AL, caches = model._forward(params, D, hidden, output)
        J = costs.reduce(costs.loss_from_logits(caches[-1].Z, T, output=output), reduction=reduction, m=m, mask=mask)
        dZL = backprop.output_dZL(AL, T, caches, output=output, start=start, placement=placement,
                                  m=D.shape[1] if m is None else m, mask=mask)
        return J, backprop.backward_from(dZL, params, caches, hidden=hidden, placement=placement, m=m)
    if grads_from == "autodiff":
        return jax.value_and_grad(_cost_rows)(params, D, T, hidden, output, reduction, m, mask)
    ALT, cachesT = forward_rows(params, D, hidden, output)
    J = _reduce_rows(cachesT[-1].Z, T, output, reduction, m, mask)
    return J, backward_rows(params, cachesT, ALT, T, hidden=hidden, output=output, placement=placement,
                            start=start, m=m, mask=mask)
