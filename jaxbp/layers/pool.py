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

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxbp.layers import _validate as check

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


def pool_forward(A_prev, hparameters, mode="max"):
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


def pool_backward(dA, cache, mode="max"):
    """Backward step through pool_forward; returns dA_prev (m, n_H_prev, n_W_prev, n_C).

    Each window hands its dA back to the entries it read from, summed where windows overlap:
        dA_prev[i, h s + di, w s + dj, c] += mask[i, h, w, di, dj, c] dA[i, h, w, c]    mode="max"
            mask = 1 at the first argmax of the window (row-major; see the module on ties), else 0
        dA_prev[i, h s + di, w s + dj, c] += dA[i, h, w, c] / f^2                      mode="average"
    Vectorised over examples and positions: one strided slice per window offset (di, dj), f^2 in all.
    """
    A_prev, hparameters = check.tuple_of("cache", cache, POOL_CACHE)
    f, stride, dims = _pool_dims(A_prev, hparameters, mode)
    check.array("dA", dA, ("m", "n_H", "n_W", "n_C"), dims, dtype=("A_prev", A_prev.dtype))
    n_H, n_W = dims["n_H"], dims["n_W"]
    if mode == "max":
        windows = _windows(A_prev, f, stride, n_H, n_W)  # (m, n_H, n_W, f*f, n_C)
        mask = jax.nn.one_hot(jnp.argmax(windows, axis=3), f * f, dtype=dA.dtype, axis=3)  # first max: 1
        dwindows = mask * dA[:, :, :, None, :]  # (m, n_H, n_W, f*f, n_C)
    else:
        dwindows = jnp.broadcast_to(dA[:, :, :, None, :] / (f * f), (*dA.shape[:3], f * f, dA.shape[3]))
    return _add_windows(dwindows, A_prev.shape, f, stride)  # (m, n_H_prev, n_W_prev, n_C)


def _offsets(f):
    """The window offsets (di, dj) in row-major order: index di * f + dj of the window axis."""
    return [(di, dj) for di in range(f) for dj in range(f)]


def _windows(A_prev, f, stride, n_H, n_W):
    """windows[i, h, w, di * f + dj, c] = A_prev[i, h s + di, w s + dj, c]     (m, n_H, n_W, f*f, n_C)."""
    return jnp.stack([A_prev[:, di:di + stride * (n_H - 1) + 1:stride, dj:dj + stride * (n_W - 1) + 1:stride, :]
                      for di, dj in _offsets(f)], axis=3)


def _add_windows(dwindows, shape, f, stride):
    """The transpose of _windows: dA_prev[i, h s + di, w s + dj, c] += dwindows[i, h, w, di * f + dj, c]."""
    n_H, n_W = dwindows.shape[1], dwindows.shape[2]
    dA_prev = jnp.zeros(shape, dwindows.dtype)
    for k, (di, dj) in enumerate(_offsets(f)):
        rows, cols = slice(di, di + stride * (n_H - 1) + 1, stride), slice(dj, dj + stride * (n_W - 1) + 1, stride)
        dA_prev = dA_prev.at[:, rows, cols, :].add(dwindows[:, :, :, k, :])
    return dA_prev
