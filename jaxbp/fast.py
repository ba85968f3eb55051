"""The training step's cost and gradients in the layout that is fastest on the device.

Contract
    layout="columns" is Ng's layout: X (n_x, m), one example per column. layout="rows" keeps
    the params as they are, W[l] (n_l, n_{l-1}), and the data transposed, one example per row,
    so every activation is the transpose of Ng's:
        ZT[l] = AT[l-1] @ W[l].T + b[l].T                 (m, n_l)          = Z[l].T
        dW[l] = s dZT[l].T @ AT[l-1];  db[l] = s sum_rows dZT[l]  (n_l, n_{l-1}), (n_l, 1)
        dAT[l-1] = dZT[l] @ W[l];  dZT[l-1] = dAT[l-1] * g'(ZT[l-1])  (m, n_{l-1}) = dA[l-1].T
    Both layouts run the core's own loops, model._forward and backprop._backward_loop, with
    layout= choosing only the three products; dZ[L] comes from backprop.output_dZL (on the small
    (n_y, m) transposes), so start, placement, m, mask, lambd and keep_prob mean what they mean
    there, with the same numerics: "deferred" divides the product dZ A_prev.T by m after it
    (backprop.over_m), in both layouts (scaling dZT first, as the rows once did, is "absorbed"'s
    numerics: in float16 it underflows where deferred's product overflows). grads are
    Layer(dW, db) in Ng's shapes in both layouts.
    Why rows: XLA's CPU dot runs the cat net's first-layer products (12288 inputs, m = 209)
    faster with the examples along the rows. Measured (one core, taskset -c 0, process time per
    step, median of 300 jitted steps, float32, relu/sigmoid, deferred; the cat net
    [12288, 20, 7, 5, 1], m = 209; a shared machine, so medians of two runs):
        rows (X.T), the one loop with layout="rows"         2.70 ms   (its former copy: 3.24-3.72)
        columns (X)                                          4.16 ms
        the columns loop handed X = XT.T inside the jit      3.85 ms
        jax.grad in rows                                     2.44 ms
    XLA folds the transpose into the dot but keeps the (n_l, m) products, so a transposed X alone
    does not bring the rows' speed: the one loop takes the layout instead of being copied.
    For narrow layers Ng's layout is faster (planar: 3.0 vs 6.8 us), since elementwise work
    vectorises along the minor axis.
"""

from typing import Literal

import jax

from jaxbp import activations, backprop, model, shapes
from jaxbp.model import Cache

Layout = Literal["rows", "columns"]
LAYOUTS = shapes.LAYOUTS
GRADS_FROM = ("backprop", "autodiff")


def cost_and_grads(params, D, T, *, layout, hidden, output, grads_from, placement, start, m=None, mask=None,
                   lambd=0.0, keep_prob=1.0, key=None, debug=False):
    """(J, grads) of one batch: D, T are (X, Y) for layout="columns", (X.T, Y.T) for "rows".

    grads mirror params (Ng's shapes in both layouts). m is the divisor of the mean
    (None: the batch's size), mask the 0/1 real-example marks, (1, m) for columns, (m, 1) for
    rows. lambd adds L2; keep_prob < 1 with a key draws dropout masks (transposed for rows).
    Values are checked on concrete arrays; under jit (training) only with debug=True in checkify.
    """
    shapes.choice("layout", layout, LAYOUTS)
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("grads_from", grads_from, GRADS_FROM)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    if start == "dZL" and output == "tanh" and grads_from == "backprop":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh'; use start='dAL'")
    shapes.flag("debug", debug)
    rows = layout == "rows"
    m_local = shapes.data(params, D, T, output=output, rows=rows, debug=debug)
    shapes.mask(mask, m_local, rows=rows, debug=debug)
    shapes.count("m", m, debug=debug, at_least=shapes.real_examples(m_local, mask))
    shapes.scalar("lambd", lambd, low=0, debug=debug)
    shapes.dropout(params, m_local, keep_prob=keep_prob, key_=key, debug=debug)
    masks = None if key is None else model._draw(key, shapes.layer_dims_of(params, check_values=False), m_local,
                                                 keep_prob, D.dtype, layout)
    reduction = backprop.reduction_for(placement)
    args = (reduction, m, mask, lambd, keep_prob, masks, layout)
    if grads_from == "autodiff":
        return jax.value_and_grad(model._cost)(params, D, T, hidden, output, *args)
    AL, caches = model._forward(params, D, hidden, output, keep_prob, masks, layout)
    J = model._cost_from(params, caches, T, output, *args[:4], layout)
    if rows:  # dZ[L] on the small (n_y, m) transposes
        AL, T, mask = AL.T, T.T, None if mask is None else mask.T
    ZL = caches[-1].Z.T if rows else caches[-1].Z
    dZL = backprop.output_dZL(AL, T, (Cache(A_prev=None, Z=ZL),), output=output, start=start, placement=placement,
                              m=m_local if m is None else m, mask=mask)
    grads, _ = backprop._backward_loop(dZL.T if rows else dZL, params, caches, hidden, placement, m, lambd, keep_prob,
                                       layout)
    return J, grads

