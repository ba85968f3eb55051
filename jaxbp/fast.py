"""The training step's cost and gradients in the layout that is fastest on the device.

Contract
    layout="columns" is Ng's layout and the core's own code (model._forward, backprop's
    output_dZL and backward_from, jax.grad of model._cost): X (n_x, m), W (n_l, n_{l-1}).
    layout="rows" is the same network with every matrix transposed, one example per row:
        XT = X.T (m, n_x),  WT[l] = W[l].T (n_{l-1}, n_l),  bT[l] = b[l].T (1, n_l)
        ZT[l] = AT[l-1] @ WT[l] + bT[l]                        (m, n_l)     = Z[l].T
        dWT[l] = s AT[l-1].T @ dZT[l];  dbT[l] = s sum_rows dZT[l]            = dW[l].T, db[l].T
        dAT[l-1] = dZT[l] @ WT[l].T;  dZT[l-1] = dAT[l-1] * g'(ZT[l-1])       = dA[l-1].T, ...
    with s = 1/m for placement="deferred", else 1; dZ[L] itself comes from backprop.output_dZL
    (on the small (n_y, m) transposes), so start, placement, m and mask mean what they mean
    there. XLA's CPU dot runs (m, n_{l-1}) @ (n_{l-1}, n_l) at BLAS speed, while Ng's
    (n_l, n_{l-1}) @ (n_{l-1}, m) can run several times slower for a wide n_{l-1}.
    The elementwise optimizers (sgd, momentum, adam) commute with the transpose, so training
    the transposed params and transposing back is exactly training the params.
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxbp import activations, backprop, costs, model
from jaxbp.model import Cache, Layer

Layout = Literal["rows", "columns"]
LAYOUTS = ("rows", "columns")


class RowLayer(NamedTuple):
    """One layer's parameters (or gradients) transposed: WT = W.T, bT = b.T."""

    WT: jax.Array  # (n_{l-1}, n_l)
    bT: jax.Array  # (1, n_l)


def to_rows(params):
    """The tuple of RowLayer(W.T, b.T) from a tuple of Layer(W, b)."""
    return tuple(RowLayer(WT=layer.W.T, bT=layer.b.T) for layer in params)


def from_rows(paramsT):
    """The tuple of Layer(W, b) from a tuple of RowLayer(WT, bT)."""
    return tuple(Layer(W=layer.WT.T, b=layer.bT.T) for layer in paramsT)


def forward_rows(paramsT, XT, hidden, output):
    """AT[l] = g(AT[l-1] @ WT[l] + bT[l]); returns (ALT (m, n_y), cachesT of Cache(AT_prev, ZT))."""
    cachesT, AT = [], XT  # AT[0] = X.T, (m, n_x)
    for l, layer in enumerate(paramsT, start=1):
        ZT = AT @ layer.WT + layer.bT  # (m, n_l)
        cachesT.append(Cache(A_prev=AT, Z=ZT))
        AT = activations.g(hidden)(ZT) if l < len(paramsT) else activations.g(output)(ZT.T).T  # softmax: per example
    return AT, tuple(cachesT)


def _cost_rows(paramsT, XT, YT, hidden, output, reduction, m, mask):
    _, cachesT = forward_rows(paramsT, XT, hidden, output)
    return _reduce_rows(cachesT[-1].Z, YT, output, reduction, m, mask)


def _reduce_rows(ZLT, YT, output, reduction, m, mask):
    per_example_loss = costs.loss_from_logits(ZLT.T, YT.T, output=output)  # (1, m)
    return costs.reduce(per_example_loss, reduction=reduction, m=m, mask=None if mask is None else mask.T)


def backward_rows(paramsT, cachesT, ALT, YT, *, hidden, output, placement, start, m=None, mask=None):
    """Hand-written gradients in the row layout: a tuple of RowLayer(dWT, dbT) = (dW.T, db.T)."""
    m = ALT.shape[0] if m is None else m
    ZL = cachesT[-1].Z.T  # (n_y, m)
    dZL = backprop.output_dZL(ALT.T, YT.T, (Cache(A_prev=None, Z=ZL),), output=output, start=start,
                              placement=placement, m=m, mask=None if mask is None else mask.T)
    s = 1 / m if placement == "deferred" else 1
    dZT = dZL.T  # (m, n_L)
    gradsT = [None] * len(paramsT)
    for l in range(len(paramsT), 0, -1):
        layer, cache = paramsT[l - 1], cachesT[l - 1]
        dWT = s * (cache.A_prev.T @ dZT)  # (n_{l-1}, n_l)
        dbT = s * jnp.sum(dZT, axis=0, keepdims=True)  # (1, n_l)
        gradsT[l - 1] = RowLayer(WT=dWT, bT=dbT)
        if l > 1:  # dA[0] is not needed
            dAT_prev = dZT @ layer.WT.T  # (m, n_{l-1})
            dZT = activation_backward_rows(dAT_prev, cachesT[l - 2].Z, hidden)
    return tuple(gradsT)


def activation_backward_rows(dAT, ZT, activation):
    """dZT = dAT * g'(ZT): elementwise, so the same in either layout."""
    return dAT * activations.g_prime(activation)(ZT)


def cost_and_grads(p, D, T, *, layout, hidden, output, grads_from, placement, start, m=None, mask=None):
    """(J, grads) of one batch: D, T are (X, Y) for layout="columns", (X.T, Y.T) for "rows".

    grads mirror p (Layer for columns, RowLayer for rows). m is the divisor of the mean
    (None: the batch's size), mask the 0/1 real-example marks shaped like one row of T.T / T.
    """
    reduction = backprop.reduction_for(placement)
    if layout == "columns":
        if grads_from == "autodiff":
            return jax.value_and_grad(model._cost)(p, D, T, hidden, output, reduction, m, mask)
        AL, caches = model._forward(p, D, hidden, output)
        J = costs.reduce(costs.loss_from_logits(caches[-1].Z, T, output=output), reduction=reduction, m=m, mask=mask)
        dZL = backprop.output_dZL(AL, T, caches, output=output, start=start, placement=placement,
                                  m=D.shape[1] if m is None else m, mask=mask)
        return J, backprop.backward_from(dZL, p, caches, hidden=hidden, placement=placement, m=m)
    if grads_from == "autodiff":
        return jax.value_and_grad(_cost_rows)(p, D, T, hidden, output, reduction, m, mask)
    ALT, cachesT = forward_rows(p, D, hidden, output)
    J = _reduce_rows(cachesT[-1].Z, T, output, reduction, m, mask)
    return J, backward_rows(p, cachesT, ALT, T, hidden=hidden, output=output, placement=placement, start=start,
                            m=m, mask=mask)
