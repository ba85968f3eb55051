"""NumPy float64 references for jaxbp.layers, written as the course's loops (one example, position, step at a time)."""

import jax
import numpy as np
from refs import rel_error

# The tests compile one program per case and dtype (the hand-written backward and jax.vjp together) and
# run it once: compiling is nearly all of their cost, which the suite's quick XLA settings (conftest's
# QUICK_XLA: backend level 0, the older fusion emitters) cut to a fifth to a half. The errors stay at each
# dtype's round-off (float32 worst, XLA's defaults -> quick: conv 7.2e-8 -> 6.8e-8, pool 3.7e-8 -> 3.1e-8,
# rnn 8.5e-8 -> 1.0e-7, lstm 2.3e-7 -> 1.5e-7, norms 1.0e-7 -> 1.1e-7), so every bound is unchanged.
# The *_forward_backward_jit tests compare eager runs with these same compiled programs, which hold the
# forward and backward jitted: no compile of their own.
jit_once = jax.jit  # a comparison that runs once


def f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def np_softmax(Z):
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def np_sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


# ---------------------------------------------------------------- conv and pool (course 4, week 1)
def np_zero_pad(X, pad):
    return np.pad(np.asarray(X, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=0)


def np_conv_forward(A_prev, W, b, stride, pad):
    A_prev, W, b = f64(A_prev, W, b)
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    A_pad = np_zero_pad(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    Z[i, h, w, c] = np.sum(A_pad[i, vs:vs + f, hs:hs + f, :] * W[:, :, :, c]) + b[0, 0, 0, c]
    return Z


def np_conv_backward(dZ, A_prev, W, stride, pad):
    """The course's conv_backward loop, unpadding with pad : pad + n (its hint [pad:-pad] is empty at pad 0)."""
    dZ, A_prev, W = f64(dZ, A_prev, W)
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    A_pad = np_zero_pad(A_prev, pad)
    dA_pad, dW, db = np.zeros_like(A_pad), np.zeros_like(W), np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    dA_pad[i, vs:vs + f, hs:hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += A_pad[i, vs:vs + f, hs:hs + f, :] * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    dA_prev = dA_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :]
    return dA_prev, dW, db


def np_pool_forward(A_prev, f, stride, mode):
    (A_prev,) = f64(A_prev)
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    window = A_prev[i, h * stride:h * stride + f, w * stride:w * stride + f, c]
                    A[i, h, w, c] = np.max(window) if mode == "max" else np.mean(window)
    return A


def np_pool_backward(dA, A_prev, f, stride, mode, *, ties="first"):
    """The course's pool_backward loop; ties="first" sends dA to the first max (jax's rule), "all" to every max."""
    dA, A_prev = f64(dA, A_prev)
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros_like(A_prev)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    if mode == "max":
                        window = A_prev[i, vs:vs + f, hs:hs + f, c]
                        if ties == "all":
                            mask = window == np.max(window)  # the course's create_mask_from_window
                        else:
                            mask = np.zeros_like(window)
                            mask[np.unravel_index(np.argmax(window), window.shape)] = 1
                        dA_prev[i, vs:vs + f, hs:hs + f, c] += mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs:vs + f, hs:hs + f, c] += np.full((f, f), dA[i, h, w, c] / (f * f))
    return dA_prev


# ---------------------------------------------------------------- RNN and LSTM (course 5, week 1)
def np_rnn_forward(x, a0, parameters):
    x, a_next = f64(x, a0)
    p = {k: np.asarray(v, np.float64) for k, v in parameters.items()}
    n_x, m, T_x = x.shape
    a, y = np.zeros((a_next.shape[0], m, T_x)), np.zeros((p["Wya"].shape[0], m, T_x))
    for t in range(T_x):
        a_next = np.tanh(p["Waa"] @ a_next + p["Wax"] @ x[:, :, t] + p["ba"])
        a[:, :, t], y[:, :, t] = a_next, np_softmax(p["Wya"] @ a_next + p["by"])
    return a, y


def np_lstm_forward(x, a0, parameters):
    x, a_next = f64(x, a0)
    p = {k: np.asarray(v, np.float64) for k, v in parameters.items()}
    n_x, m, T_x = x.shape
    n_a = a_next.shape[0]
    a, c, y = np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)), np.zeros((p["Wy"].shape[0], m, T_x))
    c_next = np.zeros((n_a, m))
    for t in range(T_x):
        concat = np.concatenate((a_next, x[:, :, t]), axis=0)
        ft = np_sigmoid(p["Wf"] @ concat + p["bf"])
        it = np_sigmoid(p["Wi"] @ concat + p["bi"])
        cct = np.tanh(p["Wc"] @ concat + p["bc"])
        c_next = ft * c_next + it * cct
        ot = np_sigmoid(p["Wo"] @ concat + p["bo"])
        a_next = ot * np.tanh(c_next)
        a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, np_softmax(p["Wy"] @ a_next + p["by"])
    return a, y, c


def rnn_params(rng, n_x, n_a, n_y, dtype=np.float64):
    shapes = {"Wax": (n_a, n_x), "Waa": (n_a, n_a), "Wya": (n_y, n_a), "ba": (n_a, 1), "by": (n_y, 1)}
    return {k: (0.5 * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}


def lstm_params(rng, n_x, n_a, n_y, dtype=np.float64):
    shapes = {**{f"W{g}": (n_a, n_a + n_x) for g in "fico"}, **{f"b{g}": (n_a, 1) for g in "fico"},
              "Wy": (n_y, n_a), "by": (n_y, 1)}
    return {k: (0.5 * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}


# ---------------------------------------------------------------- batch and layer norm (cs231n)
def np_batchnorm_forward(x, gamma, beta, bn_param):
    """cs231n's batchnorm_forward, mutating bn_param in place as cs231n does."""
    x, gamma, beta = f64(x, gamma, beta)
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))
    if bn_param["mode"] == "train":
        sample_mean, sample_var = x.mean(axis=0), x.var(axis=0)
        out = gamma * (x - sample_mean) / np.sqrt(sample_var + eps) + beta
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out


def np_layernorm_forward(x, gamma, beta, eps=1e-5):
    x, gamma, beta = f64(x, gamma, beta)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


# ---------------------------------------------------------------- the metric, per output
def worst_rel_error(outputs, references):
    """The worst of Ng's rel_error (the one metric) over paired outputs (tuples, or dicts by key)."""
    if isinstance(outputs, dict):
        return max(rel_error(outputs[k], references[k]) for k in references)
    return max(rel_error(u, r) for u, r in zip(outputs, references, strict=True))
