"""Learner-style pooling layers (course 4, week 1): the course's loops, a vectorised version, and real mistakes."""

import numpy as np


def create_mask_from_window(x):
    mask = x == np.max(x)
    return mask


def distribute_value(dz, shape):
    (n_H, n_W) = shape
    average = dz / (n_H * n_W)
    a = np.ones(shape) * average
    return a


def pool_forward(A_prev, hparameters, mode="max"):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    f = hparameters["f"]
    stride = hparameters["stride"]
    n_H = int(1 + (n_H_prev - f) / stride)
    n_W = int(1 + (n_W_prev - f) / stride)
    n_C = n_C_prev
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]
                    if mode == "max":
                        A[i, h, w, c] = np.max(a_prev_slice)
                    elif mode == "average":
                        A[i, h, w, c] = np.mean(a_prev_slice)
    cache = (A_prev, hparameters)
    return A, cache


def _backward(dA, cache, mode, *, bug=None):
    """The course's pool_backward loop; `bug` plants one mistake (the named functions below)."""
    (A_prev, hparameters) = cache
    stride = hparameters["stride"]
    f = hparameters["f"]
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    if bug == "mode-ignored":
        mode = "max"
    for i in range(m):
        a_prev = A_prev[i]
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vert_start = h if bug == "stride-ignored" else h * stride
                    vert_end = vert_start + f
                    horiz_start = w if bug == "stride-ignored" else w * stride
                    horiz_end = horiz_start + f
                    window = (i, slice(vert_start, vert_end), slice(horiz_start, horiz_end), c)
                    if mode == "max":
                        if bug == "mask-over-channels":
                            a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, :]
                            mask = create_mask_from_window(a_prev_slice)
                            dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, :] += mask * dA[i, h, w, c]
                            continue
                        a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]
                        mask = create_mask_from_window(a_prev_slice)
                        if bug == "no-mask":
                            mask = np.ones_like(a_prev_slice)
                        if bug == "times-input":
                            mask = mask * a_prev_slice
                        if bug == "assigned":
                            dA_prev[window] = np.multiply(mask, dA[i, h, w, c])
                        else:
                            dA_prev[window] += np.multiply(mask, dA[i, h, w, c])
                    elif mode == "average":
                        da = dA[i, h, w, c]
                        shape = (f, f)
                        if bug == "not-divided":
                            dA_prev[window] += np.ones(shape) * da
                        else:
                            dA_prev[window] += distribute_value(da, shape)
    return dA_prev


def pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode)


def stride_ignored_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="stride-ignored")


def assigned_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="assigned")


def mask_over_channels_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="mask-over-channels")


def no_mask_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="no-mask")


def times_input_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="times-input")


def not_divided_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="not-divided")


def mode_ignored_pool_backward(dA, cache, mode="max"):
    return _backward(dA, cache, mode, bug="mode-ignored")


# ---------------------------------------------------------------- vectorised over examples and channels
def vectorised_pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros_like(A_prev)
    for h in range(n_H):
        for w in range(n_W):
            rows, cols = slice(h * stride, h * stride + f), slice(w * stride, w * stride + f)
            window = A_prev[:, rows, cols, :]  # (m, f, f, n_C)
            if mode == "max":
                mask = window == window.max(axis=(1, 2), keepdims=True)
                dA_prev[:, rows, cols, :] += mask * dA[:, h:h + 1, w:w + 1, :]
            else:
                dA_prev[:, rows, cols, :] += dA[:, h:h + 1, w:w + 1, :] / (f * f)
    return dA_prev


def tuple_pool_backward(dA, cache, mode="max"):
    return (vectorised_pool_backward(dA, cache, mode),)


def no_mode_pool_backward(dA, cache):
    return vectorised_pool_backward(dA, cache)
