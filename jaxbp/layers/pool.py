"""Pooling layer (course 4, week 1): pool_forward and the hand-written pool_backward, max or average.

Contract
    A_prev (m, n_H_prev, n_W_prev, n_C), hparameters = {"f": f, "stride": s} (Python ints), no
    padding; A (m, n_H, n_W, n_C) with n_H = floor((n_H_prev - f) / s) + 1, n_W likewise. Each
    channel is pooled alone. The window of output (h, w) is A_prev[:, h s : h s + f, w s : w s + f, :];
    windows overlap when s < f, and then pool_backward adds the contributions, as the course's loop does.
    Ties in max pooling: the whole dA of a window goes to the first maximum in row-major window
    order (di, then dj), which is jax.vjp's rule for lax.reduce_window max (XLA's select-and-scatter
    with >=). The course's mask (x == max(x)) would give it to every tied entry instead, and so
    scale the gradient by the number of ties. The cache is the course's (A_prev, hparameters).
"""

from typing import Literal

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxbp.layers import _validate as check

Mode = Literal["max", "average"]
MODES = ("max", "average")
POOL_CACHE = ("A_prev", "hparameters")


def _pool_dims(A_prev, hparameters, mode):
    """Validate pool_forward's arguments; return (f, stride, dims)."""
    check.choice("mode", mode, MODES)
    dims = check.array("A_prev", A_prev, ("m", "n_H_prev", "n_W_prev", "n_C"), {})
    f, stride = check.hyper("hparameters", hparameters, ("f", "stride"), {"f": 1, "stride": 1})
    for axis in ("n_H_prev", "n_W_prev"):
        if dims[axis] < f:
            raise ValueError(f"f = {f} exceeds the input {axis} = {dims[axis]}")
    dims["n_H"] = (dims["n_H_prev"] - f) // stride + 1
    dims["n_W"] = (dims["n_W_prev"] - f) // stride + 1
    return f, stride, dims


def pool_forward(A_prev, hparameters, mode: Mode = "max"):
    """A = max (or mean) of each f x f window of A_prev, per channel; returns (A, cache).

        A[i, h, w, c] = max_{di, dj < f} A_prev[i, h s + di, w s + dj, c]          mode="max"
        A[i, h, w, c] = (1 / f^2) sum_{di, dj < f} A_prev[i, h s + di, w s + dj, c]  mode="average"
                                                                    (m, n_H, n_W, n_C)
        cache = (A_prev, hparameters)
    """
    f, stride, _ = _pool_dims(A_prev, hparameters, mode)
    window, strides = (1, f, f, 1), (1, stride, stride, 1)
    if mode == "max":
        A = lax.reduce_window(A_prev, np.array(-np.inf, A_prev.dtype), lax.max, window, strides, "VALID")
    else:
        A = lax.reduce_window(A_prev, np.array(0, A_prev.dtype), lax.add, window, strides, "VALID") / (f * f)
    return A, (A_prev, hparameters)  # A: (m, n_H, n_W, n_C)


def pool_backward(dA, cache, mode: Mode = "max"):
    """Backward step through pool_forward; returns dA_prev (m, n_H_prev, n_W_prev, n_C).

    Each window hands its dA back to the entries it read from, summed where windows overlap:
        dA_prev[i, h s + di, w s + dj, c] += mask[i, h, w, c; di, dj] dA[i, h, w, c]    mode="max"
            mask = 1 where A_prev[i, h s + di, w s + dj, c] = A[i, h, w, c] and no earlier
            offset (row-major) of the same window matched: the first max (see the module on ties)
        dA_prev[i, h s + di, w s + dj, c] += dA[i, h, w, c] / f^2                      mode="average"
    Vectorised over examples and positions: one loop over the f^2 window offsets (di, dj), each
    a strided slice of A_prev and its transpose, an interior-padded copy of (m, n_H, n_W, n_C).
    """
    A_prev, hparameters = check.tuple_of("cache", cache, POOL_CACHE)
    f, stride, dims = _pool_dims(A_prev, hparameters, mode)
    check.array("dA", dA, ("m", "n_H", "n_W", "n_C"), dims, dtype=("A_prev", A_prev.dtype))
    if mode == "max":
        A, _ = pool_forward(A_prev, hparameters, mode)  # (m, n_H, n_W, n_C)
        taken = jnp.zeros(A.shape, bool)  # the window's first max already found
    dA_prev = jnp.zeros(A_prev.shape, dA.dtype)
    for di in range(f):
        for dj in range(f):
            if mode == "max":
                mask = (_at_offset(A_prev, di, dj, stride, A.shape) == A) & ~taken  # (m, n_H, n_W, n_C)
                taken = taken | mask
                dA_offset = jnp.where(mask, dA, 0)
            else:
                dA_offset = dA / (f * f)
            dA_prev = dA_prev + _back_from_offset(dA_offset, di, dj, stride, A_prev.shape)
    return dA_prev  # (m, n_H_prev, n_W_prev, n_C)


def _at_offset(A_prev, di, dj, stride, shape):
    """A_prev[:, h s + di, w s + dj, :] for every output (h, w): a strided slice of shape (m, n_H, n_W, n_C)."""
    n_H, n_W = shape[1], shape[2]
    return A_prev[:, di:di + stride * (n_H - 1) + 1:stride, dj:dj + stride * (n_W - 1) + 1:stride, :]


def _back_from_offset(dA_offset, di, dj, stride, shape):
    """The transpose of _at_offset: dA_offset (m, n_H, n_W, n_C) placed at rows h s + di, columns w s + dj
    of zeros of A_prev's shape: di zeros before, s - 1 between (interior), the rest after; columns alike."""
    n_H, n_W = dA_offset.shape[1], dA_offset.shape[2]
    rows = (di, shape[1] - di - stride * (n_H - 1) - 1, stride - 1)  # (before, after, interior)
    cols = (dj, shape[2] - dj - stride * (n_W - 1) - 1, stride - 1)
    return lax.pad(dA_offset, np.array(0, dA_offset.dtype), ((0, 0, 0), rows, cols, (0, 0, 0)))
