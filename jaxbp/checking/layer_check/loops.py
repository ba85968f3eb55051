"""The course's conv, pool and batch norm backwards once more, in NumPy float64: one piece swappable, or on
absolute values.

Contract
    One function per layer family, vectorised over examples (and filters/channels), looping only over
    output positions or time steps as the course does. Called two ways:
    bug=None, absolute=True: the magnitude M of every output (jaxbp.checking.compare's bound is
        GROWTH u_p ||M||), a first-order running error bound of forward and backward together:
            M = B(|v|) + D B(|v|)[E]
        B is the backward evaluated on absolute values (|upstream|, |W|, |b|, the cached forward values
        |v|), each 1 - x written 1 + x. These backwards are polynomials in their inputs, so B(|v|) bounds
        the sum of the absolute values of every term a correct backward adds (Higham's running error
        bound), and |dB/dv| <= dB(|v|)/dv, so D B(|v|)[E] bounds what the cached values' own rounding,
        u E, does to the outputs (taken as a one-sided difference along E; B is increasing). E, in
        units of u, follows each forward operation (recurrent.py's *_forward_errors, batchnorm_statistics):
            z = W concat + b:  E_z = |W| |concat| + |b| + |W| E_concat
            a = tanh(z):       E_a = |a| + (1 - a^2) E_z;    sigmoid g: E_g = g + g (1 - g) E_z
            c = f c_prev + i c~:  E_c = |f c_prev| + |i c~| + |c_prev| E_f + |f| E_c_prev + |c~| E_i + |i| E_c~
            a = o tanh(c):     E_a = |a| + |tanh c| E_o + |o| E_tanh(c),  E_tanh(c) = |tanh c| + (1 - tanh^2 c) E_c
            batch norm:        E_xmu = |x| + |mu| + mean|x|,  E_var = mean(xmu^2 + 2 |xmu| E_xmu),
                               E_1/sigma = (1/sigma)(1 + E_var / (2 (var + eps))),
                               E_x_hat = |x_hat| + E_xmu / sigma + |xmu| E_1/sigma
        and E is the forward outputs' own M. Conv and pool read no forward output: M = B(|v|).
    Through time, step by step: recurrent.py.
    bug="...": the same backward with one piece swapped for a learner's mistake (candidates.py names
        them); the candidates a learner's wrong output is compared with.
"""

import numpy as np


def one_minus(x, absolute):
    """1 - x, or 1 + x on magnitudes."""
    return 1 + x if absolute else 1 - x


# ---------------------------------------------------------------- conv and pool
def conv_forward(A_prev, W, b, stride, pad):
    """Z by the course's windows, vectorised over examples and filters."""
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, n_C = W.shape[0], W.shape[3]
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Z = np.empty((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_pad[:, h * stride:h * stride + f, w * stride:w * stride + f, :]  # (m, f, f, n_C_prev)
            Z[:, h, w, :] = np.einsum("ijkl,jklc->ic", window, W) + b[0, 0, 0]
    return Z


def conv_backward(dZ, A_prev, W, stride, pad, *, bug=None):
    """(dA_prev, dW, db) by the course's loop; bug: "stride-ignored" (windows at h, w), "not-accumulated"
    (= for +=: each window, dW[..., c] and db[c] keep the last write), "last-example" (dW, db reset per example)."""
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad, dW = np.zeros(A_pad.shape), np.zeros(W.shape)
    step = 1 if bug == "stride-ignored" else stride
    for h in range(n_H):
        for w in range(n_W):
            rows, cols = slice(h * step, h * step + f), slice(w * step, w * step + f)
            if bug == "not-accumulated":  # the loop over c writes last with c = n_C - 1
                dA_pad[:, rows, cols, :] = W[None, :, :, :, -1] * dZ[:, h, w, -1, None, None, None]
                continue
            dA_pad[:, rows, cols, :] += np.einsum("jklc,ic->ijkl", W, dZ[:, h, w, :])
            examples = slice(m - 1, m) if bug == "last-example" else slice(None)
            dW += np.einsum("ijkl,ic->jklc", A_pad[examples, rows, cols, :], dZ[examples, h, w, :])
    if bug == "not-accumulated":
        last = (m - 1, (n_H - 1) * step, (n_W - 1) * step)
        dW = A_pad[last[0], last[1]:last[1] + f, last[2]:last[2] + f, :, None] * dZ[m - 1, n_H - 1, n_W - 1]
        db = dZ[m - 1, n_H - 1, n_W - 1].reshape(1, 1, 1, n_C)
    else:
        db = np.sum(dZ[m - 1:] if bug == "last-example" else dZ, axis=(0, 1, 2)).reshape(1, 1, 1, n_C)
    n_H_prev, n_W_prev = A_prev.shape[1:3]
    return {"dA_prev": dA_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev, :], "dW": dW, "db": db}


def pool_forward(A_prev, f, stride, mode):
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    A = np.empty((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            A[:, h, w, :] = window.max(axis=(1, 2)) if mode == "max" else window.mean(axis=(1, 2))
    return A


def pool_backward(dA, A_prev, f, stride, mode, *, bug=None):
    """dA_prev by the course's loop; bug: "stride-ignored", "not-accumulated", and for routing
    "max-routing" (average mode routed as max), "averaged", "copied", "times-input" (mask * window * dA),
    "mask-over-channels" (one mask over the whole (f, f, n_C) slice, every channel's dA added there),
    "mask-over-channels-own" (that mask's channel only gets its own dA)."""
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    step = 1 if bug == "stride-ignored" else stride
    for h in range(n_H):
        for w in range(n_W):
            rows, cols = slice(h * step, h * step + f), slice(w * step, w * step + f)
            window, d = A_prev[:, rows, cols, :], dA[:, h, w, None, None, :]  # (m, f, f, n_C), (m, 1, 1, n_C)
            if (mode == "average" and bug != "max-routing") or bug == "averaged":
                contribution = np.broadcast_to(d / (f * f), window.shape)
            elif bug == "copied":
                contribution = np.broadcast_to(d, window.shape)
            elif bug in ("mask-over-channels", "mask-over-channels-own"):
                flat = window.reshape(m, -1)
                mask = (np.arange(flat.shape[1]) == flat.argmax(axis=1)[:, None]).reshape(window.shape)
                own = d if bug.endswith("own") else np.sum(d, axis=3, keepdims=True)
                contribution = mask * own
            else:
                flat = window.reshape(m, f * f, n_C)
                mask = (np.arange(f * f)[None, :, None] == flat.argmax(axis=1)[:, None, :]).reshape(window.shape)
                contribution = mask * d * (window if bug == "times-input" else 1)
            if bug == "not-accumulated":
                dA_prev[:, rows, cols, :] = contribution
            else:
                dA_prev[:, rows, cols, :] += contribution
    return {"dA_prev": dA_prev}


def with_forward_errors(backward, values, errors):
    """B(|v|) + D B(|v|)[E] (module docstring) for backward(dict of values) -> {output: array} on magnitudes;
    errors holds E for some of the values (the others are exact)."""
    top = max(float(np.max(e)) for e in errors.values())
    base = backward(values)
    if top == 0:
        return base
    h = 1e-6 / max(1.0, top)
    bumped = backward({k: v + h * errors[k] if k in errors else v for k, v in values.items()})
    return {k: base[k] + (bumped[k] - base[k]) / h for k in base}


# ---------------------------------------------------------------- batch norm (cs231n)
def batchnorm_statistics(x, gamma, beta, eps):
    """({x_hat, inv_sigma, out}, their error magnitudes E in units of u) of cs231n's train-mode forward."""
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu**2).mean(axis=0)
    inv_sigma = 1 / np.sqrt(var + eps)
    x_hat = xmu * inv_sigma
    out = gamma * x_hat + beta
    E_xmu = np.abs(x) + np.abs(mu) + np.abs(x).mean(axis=0)
    E_var = (xmu**2 + 2 * np.abs(xmu) * E_xmu).mean(axis=0)
    E_inv_sigma = inv_sigma * (1 + E_var / (2 * (var + eps)))
    E_x_hat = np.abs(x_hat) + E_xmu * inv_sigma + np.abs(xmu) * E_inv_sigma
    E_out = np.abs(out) + np.abs(gamma) * E_x_hat + np.abs(beta)
    return ({"x_hat": x_hat, "inv_sigma": inv_sigma, "out": out},
            {"x_hat": E_x_hat, "inv_sigma": E_inv_sigma, "out": E_out})


def batchnorm_backward(dout, x_hat, inv_sigma, gamma, *, bug=None, absolute=False):
    """(dx, dgamma, dbeta) in closed form, dx = (gamma / (N sigma)) (N dout - sum dout - x_hat sum(dout x_hat));
    bug: "missing-mean-term" (no - sum dout: dmu's 1/N term), "missing-variance-term" (no x_hat term: dvar's),
    "constant-batch-statistics" (neither: dx = gamma dout / sigma, the test-mode formula)."""
    N = dout.shape[0]
    sign = 1 if absolute else -1
    dx_hat = dout * gamma
    total = N * dx_hat
    if bug not in ("missing-mean-term", "constant-batch-statistics"):
        total = total + sign * np.sum(dx_hat, axis=0)
    if bug not in ("missing-variance-term", "constant-batch-statistics"):
        total = total + sign * x_hat * np.sum(dx_hat * x_hat, axis=0)
    return {"dx": total * inv_sigma / N, "dgamma": np.sum(dout * x_hat, axis=0), "dbeta": np.sum(dout, axis=0)}
