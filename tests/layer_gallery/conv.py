"""Learner-style conv layers (course 4, week 1): the course's loops, a vectorised version, and real mistakes.

Each buggy function differs from the correct one by the mistake its name says; the name ends with
the course's name (…_conv_backward) so the checker recognises the layer.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=(0, 0))


def conv_single_step(a_slice_prev, W, b):
    s = np.multiply(a_slice_prev, W)
    Z = np.sum(s)
    Z = Z + b.item()  # NumPy 2: float(b) of a (1, 1, 1) array raises
    return Z


def conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    a_slice_prev = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                    weights = W[:, :, :, c]
                    biases = b[:, :, :, c]
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, weights, biases)
    cache = (A_prev, W, b, hparameters)
    return Z, cache


def _backward(dZ, cache, *, bug=None):
    """The course's conv_backward loop; `bug` plants one mistake (the named functions below)."""
    (A_prev, W, b, hparameters) = cache
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    (m, n_H, n_W, n_C) = dZ.shape
    dA_prev = np.zeros((m, n_H_prev, n_W_prev, n_C_prev))
    dW = np.zeros((f, f, n_C_prev, n_C))
    db = np.zeros((1, 1, 1, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)
    for i in range(m):
        if bug == "reset-per-example":
            dW = np.zeros((f, f, n_C_prev, n_C))
            db = np.zeros((1, 1, 1, n_C))
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vert_start = h if bug == "stride-ignored" else h * stride
                    vert_end = vert_start + f
                    horiz_start = w if bug == "stride-ignored" else w * stride
                    horiz_end = horiz_start + f
                    a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                    if bug == "assigned":
                        da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] = W[:, :, :, c] * dZ[i, h, w, c]
                    else:
                        da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    if bug == "bias-in-window":
                        db[:, :, :, c] += np.sum(np.ones_like(a_slice) * dZ[i, h, w, c])
                    else:
                        db[:, :, :, c] += dZ[i, h, w, c]
        if bug == "pad-slice":
            dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]  # the course's hint: empty at pad = 0
        elif bug not in ("padded", "never-unpadded"):
            dA_prev[i, :, :, :] = da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :]
    if bug == "padded":
        return dA_prev_pad, dW, db
    if bug == "divided-by-m":
        return dA_prev, dW / m, db / m
    return dA_prev, dW, db


def conv_backward(dZ, cache):
    return _backward(dZ, cache)


def never_unpadded_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="never-unpadded")


def stride_ignored_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="stride-ignored")


def assigned_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="assigned")


def reset_per_example_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="reset-per-example")


def bias_in_window_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="bias-in-window")


def pad_slice_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="pad-slice")


def padded_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="padded")


def divided_by_m_conv_backward(dZ, cache):
    return _backward(dZ, cache, bug="divided-by-m")


# ---------------------------------------------------------------- vectorised
def vectorised_conv_forward(A_prev, W, b, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(A_pad, (f, f), axis=(1, 2))[:, ::stride, ::stride]  # (m, n_H, n_W, n_C_prev, f, f)
    Z = np.einsum("ihwkab,abkc->ihwc", windows, W) + b
    return Z, (A_prev, W, b, hparameters)


def _vectorised(dZ, cache, *, bug=None):
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    n_H_prev, n_W_prev = A_prev.shape[1:3]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(A_pad, (f, f), axis=(1, 2))[:, ::stride, ::stride][:, :n_H, :n_W]
    dA_pad = np.zeros_like(A_pad)
    for h in range(n_H):
        for w in range(n_W):
            window = (slice(None), slice(h * stride, h * stride + f), slice(w * stride, w * stride + f))
            dA_pad[window] += np.einsum("abkc,ic->iabk", W, dZ[:, h, w])
    if bug == "per-example":
        dW = np.einsum("ihwkab,ihwc->iabkc", windows, dZ)
    elif bug == "swapped-filter-axes":
        dW = np.einsum("ihwkab,ihwc->bakc", windows, dZ)
    else:
        dW = np.einsum("ihwkab,ihwc->abkc", windows, dZ)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=bug != "flat-db")
    if bug == "mean-db":
        db = np.mean(dZ, axis=(0, 1, 2), keepdims=True)
    if bug == "pad-slice":
        return dA_pad[:, pad:-pad, pad:-pad, :], dW, db
    dA_prev = dA_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev, :]
    if bug == "swapped-axes":
        dA_prev = dA_prev.transpose(0, 2, 1, 3)
    if bug == "sign":
        dW = -dW
    if bug == "divide-by-zeros":  # stands for any division by a count that is 0 (a notebook shows a warning)
        with np.errstate(divide="ignore"):
            db = db / np.count_nonzero(db == 0)
    return dA_prev, dW, db


def vectorised_conv_backward(dZ, cache):
    return _vectorised(dZ, cache)


def mean_db_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="mean-db")


def float32_inside_conv_backward(dZ, cache):
    """Computes in float32 and hands back float64 (np.zeros' default dtype)."""
    A_prev, W, b, hparameters = cache
    dA_prev, dW, db = _vectorised(dZ.astype(np.float32), (A_prev.astype(np.float32), W.astype(np.float32), b,
                                                         hparameters))
    return dA_prev.astype(np.float64), dW.astype(np.float64), db.astype(np.float64)


def per_example_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="per-example")


def swapped_axes_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="swapped-axes")


def swapped_filter_axes_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="swapped-filter-axes")


def flat_db_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="flat-db")


def vectorised_pad_slice_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="pad-slice")


def sign_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="sign")


def divide_by_zeros_conv_backward(dZ, cache):
    return _vectorised(dZ, cache, bug="divide-by-zeros")


# ---------------------------------------------------------------- raising
def float_b_conv_single_step(a_slice_prev, W, b):
    return np.sum(np.multiply(a_slice_prev, W)) + float(b)  # NumPy 2 raises for b of shape (1, 1, 1)


def float_b_conv_forward(A_prev, W, b, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    A_pad = zero_pad(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    window = A_pad[i, h * stride:h * stride + f, w * stride:w * stride + f, :]
                    Z[i, h, w, c] = float_b_conv_single_step(window, W[:, :, :, c], b[:, :, :, c])
    return Z, (A_prev, W, b, hparameters)


def two_args_conv_backward(dZ):
    return dZ
