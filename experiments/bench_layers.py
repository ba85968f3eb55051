"""Benchmark: are the hand-written conv and LSTM backwards as fast as jax.vjp, and how far ahead of the course's loops?

Question  On a course-sized conv layer ((10, 28, 28, 8) -> 16 channels, f = 3, pad 1, stride 1)
          and LSTM (n_x = 32, n_a = 64, n_y = 10, T_x = 30, m = 32), in float32 on this CPU: how long
          does jaxbp.layers' hand-written backward take, jitted, against jitted jax.vjp of the same
          forward and against the course's NumPy loops (conv: four nested loops over examples,
          positions and filters; LSTM: a Python loop over t)?
Method    Each method computes forward + backward from the same inputs and upstream gradient: the
          hand-written way needs its forward's cache, jax.vjp runs the forward inside. The hand
          backward alone (from a cache computed beforehand) is timed too. Jitted calls are compiled
          and warmed up first; methods are interleaved repeat by repeat and the median of
          `repeats` (NumPy: `numpy_repeats`) wall times is reported, each JAX call ending in
          block_until_ready. Every method's gradients are compared (Ng's relative error) with the
          hand-written ones, so a fast wrong answer cannot pass. The CPU model and its AVX flags
          come from /proc/cpuinfo.
Run       python -m experiments.bench_layers [--quick] [--out results/bench_layers]
Expected  hand-written fwd+bwd within 1.5x of jax.vjp either way (both are the same few XLA
          convolutions / matmuls); both >= 100x faster than the NumPy conv loops, and >= 5x
          faster than the NumPy LSTM loop (whose matmuls already run in BLAS).
"""

import dataclasses
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxbp.checking.compare import rel_error
from jaxbp.layers import conv_backward, conv_forward, lstm_backward, lstm_forward

from . import _common

NAME = "bench_layers"


@dataclasses.dataclass(frozen=True)
class Config:
    """Hand-written vs jax.vjp vs NumPy loops, conv and LSTM forward + backward."""

    conv_input: tuple = (10, 28, 28, 8)  # (m, n_H_prev, n_W_prev, n_C_prev)
    n_C: int = 16
    f: int = 3
    pad: int = 1
    stride: int = 1
    lstm_dims: tuple = (32, 64, 10, 30, 32)  # (n_x, n_a, n_y, T_x, m)
    dtype: str = "float32"
    repeats: int = 51
    numpy_repeats: int = 3
    seed: int = 0
    out_dir: str = ""

    @classmethod
    def quick(cls):
        return cls(conv_input=(2, 8, 9, 3), n_C=4, lstm_dims=(4, 8, 3, 5, 4), repeats=3, numpy_repeats=1)


# ---------------------------------------------------------------- the course's NumPy loops
def numpy_conv_forward(A_prev, W, b, hparameters):
    """The course's conv_forward: a loop over examples, output positions and filters."""
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    Z = np.zeros((m, n_H, n_W, n_C), A_prev.dtype)
    A_prev_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        for h in range(n_H):
            vert_start = h * stride
            for w in range(n_W):
                horiz_start = w * stride
                a_slice_prev = a_prev_pad[vert_start:vert_start + f, horiz_start:horiz_start + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = np.sum(a_slice_prev * W[:, :, :, c]) + b[0, 0, 0, c]
    return Z, (A_prev, W, b, hparameters)


def numpy_conv_backward(dZ, cache):
    """The course's conv_backward loop (unpadding with pad : pad + n, which also works at pad = 0)."""
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    A_prev_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_prev_pad, dW, db = np.zeros_like(A_prev_pad), np.zeros_like(W), np.zeros_like(b)
    for i in range(m):
        a_prev_pad, da_prev_pad = A_prev_pad[i], dA_prev_pad[i]
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                a_slice = a_prev_pad[vs:vs + f, hs:hs + f, :]
                for c in range(n_C):
                    da_prev_pad[vs:vs + f, hs:hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    return dA_prev_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :], dW, db


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_lstm_forward(x, a0, parameters):
    """The course's lstm_forward: lstm_cell_forward in a Python loop over t, caches in a list."""
    p = parameters
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    a, c = np.zeros((n_a, m, T_x), x.dtype), np.zeros((n_a, m, T_x), x.dtype)
    y = np.zeros((p["Wy"].shape[0], m, T_x), x.dtype)
    a_next, c_next, caches = a0, np.zeros_like(a0), []
    for t in range(T_x):
        a_prev, c_prev, xt = a_next, c_next, x[:, :, t]
        concat = np.concatenate((a_prev, xt), axis=0)
        ft = _sigmoid(p["Wf"] @ concat + p["bf"])
        it = _sigmoid(p["Wi"] @ concat + p["bi"])
        cct = np.tanh(p["Wc"] @ concat + p["bc"])
        c_next = ft * c_prev + it * cct
        ot = _sigmoid(p["Wo"] @ concat + p["bo"])
        a_next = ot * np.tanh(c_next)
        z = p["Wy"] @ a_next + p["by"]
        e = np.exp(z - z.max(axis=0, keepdims=True))
        a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, e / e.sum(axis=0, keepdims=True)
        caches.append((a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p))
    return a, y, c, (caches, x)


def numpy_lstm_backward(da, caches):
    """The course's lstm_backward loop with the corrected cell equations (see jaxbp/layers/lstm.py)."""
    caches, x = caches
    n_a, m, T_x = da.shape
    p = caches[0][9]
    grads = {f"d{k}": np.zeros_like(p[k]) for g in "fico" for k in (f"W{g}", f"b{g}")}
    dx, da_prevt, dc_prevt = np.zeros_like(x), np.zeros((n_a, m), da.dtype), np.zeros((n_a, m), da.dtype)
    for t in reversed(range(T_x)):
        a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, _ = caches[t]
        da_next, dc_next = da[:, :, t] + da_prevt, dc_prevt
        tanh_c = np.tanh(c_next)
        dc = dc_next + da_next * ot * (1 - tanh_c**2)
        d = {"o": da_next * tanh_c * ot * (1 - ot), "c": dc * it * (1 - cct**2),
             "i": dc * cct * it * (1 - it), "f": dc * c_prev * ft * (1 - ft)}
        concat = np.concatenate((a_prev, xt), axis=0)
        dconcat = sum(p[f"W{g}"].T @ d[g] for g in "fico")
        for g in "fico":
            grads[f"dW{g}"] += d[g] @ concat.T
            grads[f"db{g}"] += np.sum(d[g], axis=1, keepdims=True)
        dx[:, :, t], da_prevt, dc_prevt = dconcat[n_a:], dconcat[:n_a], dc * ft
    return {"dx": dx, "da0": da_prevt, **grads}


# ---------------------------------------------------------------- jitted JAX methods (module level)
def conv_hand_step(A_prev, W, b, dZ, *, stride, pad):
    hparameters = {"stride": stride, "pad": pad}
    _, cache = conv_forward(A_prev, W, b, hparameters)
    return conv_backward(dZ, cache)


def conv_hand_backward(A_prev, W, b, dZ, *, stride, pad):
    return conv_backward(dZ, (A_prev, W, b, {"stride": stride, "pad": pad}))  # the cache is the inputs


def conv_vjp_step(A_prev, W, b, dZ, *, stride, pad):
    hparameters = {"stride": stride, "pad": pad}
    _, pullback = jax.vjp(lambda A_prev, W, b: conv_forward(A_prev, W, b, hparameters)[0], A_prev, W, b)
    return pullback(dZ)


def lstm_hand_step(x, a0, parameters, da):
    return lstm_backward(da, lstm_forward(x, a0, parameters)[3])


def lstm_vjp_step(x, a0, parameters, da):
    _, pullback = jax.vjp(lambda x, a0, parameters: lstm_forward(x, a0, parameters)[0], x, a0, parameters)
    dx, da0, dp = pullback(da)
    return {"dx": dx, "da0": da0, **{f"d{k}": dp[k] for g in "fico" for k in (f"W{g}", f"b{g}")}}


CONV_STATIC = ("stride", "pad")
conv_hand_step_jit = jax.jit(conv_hand_step, static_argnames=CONV_STATIC)
conv_hand_backward_jit = jax.jit(conv_hand_backward, static_argnames=CONV_STATIC)
conv_vjp_step_jit = jax.jit(conv_vjp_step, static_argnames=CONV_STATIC)
lstm_hand_step_jit = jax.jit(lstm_hand_step)
lstm_hand_backward_jit = jax.jit(lstm_backward)
lstm_vjp_step_jit = jax.jit(lstm_vjp_step)


# ---------------------------------------------------------------- timing
def _block(out):
    return jax.tree.map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out)


def time_methods(methods, repeats, numpy_repeats):
    """{name: median seconds}: each method called once to warm up (compile), then interleaved repeat by repeat."""
    outputs = {name: _block(call()) for name, call in methods.items()}
    times = {name: [] for name in methods}
    for r in range(repeats):
        for name, call in methods.items():
            if name.startswith("numpy") and r >= numpy_repeats:
                continue
            start = time.perf_counter()
            _block(call())
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def worst_rel_error(u, r):
    """The worst of Ng's rel_error (jaxbp.checking.compare, the one metric) over paired leaves."""
    return max(rel_error(a, b) for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(r), strict=True))


def cpu_info():
    """The CPU model and its AVX-family flags, from /proc/cpuinfo (empty where there is none)."""
    model, flags = "", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = sorted(f for f in value.split() if f.startswith("avx"))
    except OSError:
        pass
    return {"cpu_model": model, "avx_flags": flags}


def conv_problem(cfg, rng):
    dtype = np.dtype(cfg.dtype)
    m, n_H_prev, n_W_prev, n_C_prev = cfg.conv_input
    A_prev = rng.standard_normal(cfg.conv_input).astype(dtype)
    W = (rng.standard_normal((cfg.f, cfg.f, n_C_prev, cfg.n_C)) / np.sqrt(cfg.f * cfg.f * n_C_prev)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, cfg.n_C)).astype(dtype)
    n_H = (n_H_prev - cfg.f + 2 * cfg.pad) // cfg.stride + 1
    n_W = (n_W_prev - cfg.f + 2 * cfg.pad) // cfg.stride + 1
    dZ = rng.standard_normal((m, n_H, n_W, cfg.n_C)).astype(dtype)
    return A_prev, W, b, dZ


def lstm_problem(cfg, rng):
    dtype = np.dtype(cfg.dtype)
    n_x, n_a, n_y, T_x, m = cfg.lstm_dims
    shapes = {**{f"W{g}": (n_a, n_a + n_x) for g in "fico"}, **{f"b{g}": (n_a, 1) for g in "fico"},
              "Wy": (n_y, n_a), "by": (n_y, 1)}
    parameters = {k: (rng.standard_normal(s) / np.sqrt(s[1])).astype(dtype) for k, s in shapes.items()}
    x = rng.standard_normal((n_x, m, T_x)).astype(dtype)
    a0 = rng.standard_normal((n_a, m)).astype(dtype)
    da = rng.standard_normal((n_a, m, T_x)).astype(dtype)
    return x, a0, parameters, da


def run(cfg):
    """Time both layers; returns {"rows": one row per layer, "cpu": cpu_info()}."""
    rng = np.random.default_rng(cfg.seed)
    hp = {"stride": cfg.stride, "pad": cfg.pad}
    A_prev, W, b, dZ = conv_problem(cfg, rng)
    x, a0, parameters, da = lstm_problem(cfg, rng)
    lstm_caches = _block(jax.jit(lstm_forward)(x, a0, parameters)[3])  # for the hand backward alone
    layers = {
        "conv": {
            "hand": lambda: conv_hand_step_jit(A_prev, W, b, dZ, **hp),
            "hand_backward_only": lambda: conv_hand_backward_jit(A_prev, W, b, dZ, **hp),
            "vjp": lambda: conv_vjp_step_jit(A_prev, W, b, dZ, **hp),
            "numpy_loops": lambda: numpy_conv_backward(dZ, numpy_conv_forward(A_prev, W, b, hp)[1]),
        },
        "lstm": {
            "hand": lambda: lstm_hand_step_jit(x, a0, parameters, da),
            "hand_backward_only": lambda: lstm_hand_backward_jit(da, lstm_caches),
            "vjp": lambda: lstm_vjp_step_jit(x, a0, parameters, da),
            "numpy_loops": lambda: numpy_lstm_backward(da, numpy_lstm_forward(x, a0, parameters)[3]),
        },
    }
    rows = []
    for layer, methods in layers.items():
        seconds, outputs = time_methods(methods, cfg.repeats, cfg.numpy_repeats)
        hand = outputs["hand"]
        rows.append({
            "layer": layer,
            **{f"{name}_ms": 1e3 * s for name, s in seconds.items()},
            "vjp_over_hand": seconds["vjp"] / seconds["hand"],
            "numpy_over_hand": seconds["numpy_loops"] / seconds["hand"],
            "err_vjp": worst_rel_error(outputs["vjp"], hand),
            "err_numpy": worst_rel_error(outputs["numpy_loops"], hand),
            "err_backward_only": worst_rel_error(outputs["hand_backward_only"], hand),
        })
    return {"rows": rows, "cpu": cpu_info(), "backend": jax.default_backend(), "dtype": cfg.dtype}


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    with _common.precision():
        start = time.perf_counter()
        out = run(cfg)
        seconds = time.perf_counter() - start
    cpu = out["cpu"]
    print(f"CPU: {cpu['cpu_model'] or 'unknown'}; AVX flags: {' '.join(cpu['avx_flags']) or 'none'}; "
          f"backend {out['backend']}, {out['dtype']}")
    _common.print_table(out["rows"], ["layer", "hand_ms", "hand_backward_only_ms", "vjp_ms", "numpy_loops_ms",
                                      "vjp_over_hand", "numpy_over_hand", "err_vjp", "err_numpy"])
    _common.write_outputs(cfg.out_dir, NAME, cfg, out, rows=out["rows"], compute_seconds=seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
