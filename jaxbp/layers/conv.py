"""Convolution layer (course 4, week 1): zero_pad, conv_forward and the hand-written conv_backward.

Contract
    Layouts are the course's: A_prev (m, n_H_prev, n_W_prev, n_C_prev), W (f, f, n_C_prev, n_C),
    b (1, 1, 1, n_C), Z (m, n_H, n_W, n_C); hparameters = {"stride": s, "pad": pad}, Python ints
        n_H = floor((n_H_prev - f + 2 pad) / s) + 1,   n_W likewise.
    With A_pad = zero_pad(A_prev, pad) and i an example, h, w an output position, c a filter:
        Z[i, h, w, c] = sum_{di, dj, k} A_pad[i, h s + di, w s + dj, k] W[di, dj, k, c] + b[c]
    conv_backward follows the course: no 1/m, dW and db are sums over the examples (the cost's
    1/m, if any, is already in dZ). Every sum over positions is one lax.conv_general_dilated:
    no Python loop over examples or positions. The cache is the course's (A_prev, W, b, hparameters);
    hparameters must stay Python ints, so inside jit close over them rather than pass them in.
"""

import jax.numpy as jnp
from jax import lax

from jaxbp.layers import _validate as check

CONV_CACHE = ("A_prev", "W", "b", "hparameters")


def zero_pad(X, pad):
    """Pad the two spatial axes of X (m, n_H, n_W, n_C) with pad zeros on each side.

        X_pad[i, pad + h, pad + w, c] = X[i, h, w, c]      (m, n_H + 2 pad, n_W + 2 pad, n_C)
    """
    check.array("X", X, ("m", "n_H", "n_W", "n_C"), {})
    pad = check.static_int("pad", pad, minimum=0)
    return jnp.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def output_size(n_prev, f, stride, pad):
    """n = floor((n_prev - f + 2 pad) / stride) + 1, the course's output height (or width)."""
    return (n_prev - f + 2 * pad) // stride + 1


def _conv_dims(A_prev, W, b, hparameters):
    """Validate conv_forward's arguments; return (stride, pad, dims)."""
    dims = check.array("A_prev", A_prev, ("m", "n_H_prev", "n_W_prev", "n_C_prev"), {})
    dtype = ("A_prev", A_prev.dtype)
    dims = check.array("W", W, ("f", "f", "n_C_prev", "n_C"), dims, dtype=dtype)
    dims = check.array("b", b, (1, 1, 1, "n_C"), dims, dtype=dtype)
    stride, pad = check.hyper("hparameters", hparameters, ("stride", "pad"), {"stride": 1, "pad": 0})
    f = dims["f"]
    for axis in ("n_H_prev", "n_W_prev"):
        if dims[axis] + 2 * pad < f:
            raise ValueError(f"f = {f} exceeds the padded input {axis} + 2 pad = {dims[axis] + 2 * pad}")
    dims["n_H"] = output_size(dims["n_H_prev"], f, stride, pad)
    dims["n_W"] = output_size(dims["n_W_prev"], f, stride, pad)
    return stride, pad, dims


def conv_forward(A_prev, W, b, hparameters):
    """Z = W * A_prev + b, the course's strided convolution over the zero-padded input; returns (Z, cache).

        A_pad = zero_pad(A_prev, pad)               (m, n_H_prev + 2 pad, n_W_prev + 2 pad, n_C_prev)
        Z[i, h, w, c] = sum_{di, dj, k} A_pad[i, h s + di, w s + dj, k] W[di, dj, k, c] + b[c]
                                                    (m, n_H, n_W, n_C)
        cache = (A_prev, W, b, hparameters)
    (a cross-correlation, as in the course: the filter is not flipped).
    """
    stride, pad, _ = _conv_dims(A_prev, W, b, hparameters)
    Z = lax.conv_general_dilated(A_prev, W, window_strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                                 dimension_numbers=("NHWC", "HWIO", "NHWC")) + b  # (m, n_H, n_W, n_C)
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    """Backward step through conv_forward; returns (dA_prev, dW, db), sums over the examples (no 1/m).

    The course's loop adds, for every example i, position (h, w) and filter c,
        dA_pad[i, h s : h s + f, w s : w s + f, :] += W[:, :, :, c] dZ[i, h, w, c]
        dW[:, :, :, c] += A_pad[i, h s : h s + f, w s : w s + f, :] dZ[i, h, w, c]
        db[:, :, :, c] += dZ[i, h, w, c]
    which, summed, are three convolutions (n_H_pad = n_H_prev + 2 pad, n_W_pad likewise):
        dA_pad[i, p, q, k] = sum_{h s + di = p, w s + dj = q, c} dZ[i, h, w, c] W[di, dj, k, c]
                 dZ dilated by s, padded by f - 1, against the flipped W    (m, n_H_pad, n_W_pad, n_C_prev)
        dA_prev = dA_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :]  (m, n_H_prev, n_W_prev, n_C_prev)
        dW[di, dj, k, c] = sum_{i, h, w} A_pad[i, h s + di, w s + dj, k] dZ[i, h, w, c]
                 A_pad against dZ dilated by s, contracting the examples    (f, f, n_C_prev, n_C)
        db[c] = sum_{i, h, w} dZ[i, h, w, c]                                (1, 1, 1, n_C)
    The unpadding slice is written pad : pad + n_H_prev: the course's hint dA_pad[pad:-pad] is
    the empty slice at pad = 0. Rows of A_pad no window reaches (when (n_H_prev + 2 pad - f) is
    not a multiple of s) get dA = 0: the extra high-side padding of the transposed convolution.
    """
    A_prev, W, b, hparameters = check.tuple_of("cache", cache, CONV_CACHE)
    stride, pad, dims = _conv_dims(A_prev, W, b, hparameters)
    check.array("dZ", dZ, ("m", "n_H", "n_W", "n_C"), dims, dtype=("A_prev", A_prev.dtype))
    f, n_H, n_W = dims["f"], dims["n_H"], dims["n_W"]
    n_H_pad, n_W_pad = dims["n_H_prev"] + 2 * pad, dims["n_W_prev"] + 2 * pad
    unreached_H = n_H_pad - (stride * (n_H - 1) + f)  # rows past the last window
    unreached_W = n_W_pad - (stride * (n_W - 1) + f)
    A_pad = zero_pad(A_prev, pad)  # (m, n_H_pad, n_W_pad, n_C_prev)
    dA_pad = lax.conv_general_dilated(
        dZ, jnp.flip(W, axis=(0, 1)), window_strides=(1, 1),
        padding=((f - 1, f - 1 + unreached_H), (f - 1, f - 1 + unreached_W)), lhs_dilation=(stride, stride),
        dimension_numbers=("NHWC", "HWOI", "NHWC"))  # (m, n_H_pad, n_W_pad, n_C_prev)
    dA_prev = dA_pad[:, pad:pad + dims["n_H_prev"], pad:pad + dims["n_W_prev"], :]  # (m, n_H_prev, n_W_prev, n_C_prev)
    dW = lax.conv_general_dilated(
        A_pad[:, :n_H_pad - unreached_H, :n_W_pad - unreached_W, :], dZ, window_strides=(1, 1), padding="VALID",
        rhs_dilation=(stride, stride),
        dimension_numbers=("CHWN", "IHWO", "HWNC"))  # examples contracted; (f, f, n_C_prev, n_C)
    db = jnp.sum(dZ, axis=(0, 1, 2), keepdims=True)  # (1, 1, 1, n_C)
    return dA_prev, dW, db

