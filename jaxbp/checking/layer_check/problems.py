"""The random problems a layer check runs: the course's formats, NumPy inputs, fixed shapes per layer kind.

Contract
    Every layer kind has fixed cases, so its reference compiles once (the shapes are static); a seed
    draws new values, never new shapes. Inputs are drawn in float64 by np.random.default_rng(seed) and
    cast to the check's dtype; the reference reads the cast values, so it is exact for what the learner got.
        conv        A_prev (m, n_H_prev, n_W_prev, n_C_prev), W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C),
                    hparameters {"stride", "pad"}; upstream dZ (m, n_H, n_W, n_C). n_H != n_W everywhere,
                    and stride 2 with pad 0 and pad 2 next to stride 1, so a swapped axis, an ignored
                    stride and the empty slice X[pad:-pad] at pad 0 all show.
        pool        A_prev (m, n_H_prev, n_W_prev, n_C), hparameters {"f", "stride"}, mode; upstream dA.
                    Every entry of A_prev is distinct and 0.4/size apart at least: no ties in max pooling,
                    and none that float32 could create. "pool" runs the max cases and the average cases.
        rnn(_cell)  x (n_x, m, T_x) or xt (n_x, m), a0 / a_prev (n_a, m), parameters {Wax, Waa, Wya, ba, by}
        lstm(_cell) x or xt, a0 / a_prev, c_prev (n_a, m), parameters {Wf, bf, Wi, bi, Wc, bc, Wo, bo, Wy, by};
                    upstream da (n_a, m, T_x), or da_next and dc_next (n_a, m).
        batchnorm   cs231n's x (N, D) (not normalised already), gamma, beta (D,), and bn_param: a FRESH dict
                    {"mode": "train", "eps": 1e-5, "momentum": 0.9} per call (cs231n's forward writes into it).
    All sizes differ within a layer kind (n_x != n_a != n_y != m ...), so a transpose changes a shape.
"""

import functools
from dataclasses import dataclass

import numpy as np

CONV = dict(m=3, n_C_prev=2, n_C=4)
CONV_CASES = ((4, 6, 3, 1, 1), (7, 9, 3, 2, 0), (6, 5, 2, 2, 2))  # (n_H_prev, n_W_prev, f, stride, pad)
POOL = dict(m=2, n_C=3)
POOL_CASES = ((4, 6, 2, 2), (5, 6, 3, 1), (7, 5, 3, 2))  # (n_H_prev, n_W_prev, f, stride)
RNN = dict(n_x=3, n_a=5, n_y=2, m=4, T_x=6)
BATCHNORM = dict(N=7, D=4)
GATES = ("f", "i", "c", "o")

LAYERS = ("conv", "pool", "pool_max", "pool_average", "rnn_cell", "rnn", "lstm_cell", "lstm", "batchnorm",
          "batchnorm_alt")


@dataclass(frozen=True)
class Case:
    """One problem: the forward's arguments and the backward's upstream gradient, by the course's names."""

    label: str  # "stride=2 pad=0", shown in the report
    inputs: dict  # the forward's arguments in the course's order: {"A_prev": ..., "W": ..., "hparameters": ...}
    upstream: dict  # the backward's gradient argument(s): {"dZ": ...}, {"da_next": ..., "dc_next": ...}
    dims: dict  # symbol -> size: {"m": 3, "n_H_prev": 4, ..., "n_H": 4}
    mode: str | None = None  # pooling mode, passed to the learner as mode=

    def fresh_inputs(self):
        """Copies of the inputs (learners' code may write into its arguments) with a fresh bn_param dict."""
        return {k: _copy(v) for k, v in self.inputs.items()}


def _copy(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


def family(layer):
    """The layer's family: conv, pool, rnn_cell, rnn, lstm_cell, lstm, batchnorm."""
    return {"pool_max": "pool", "pool_average": "pool", "batchnorm_alt": "batchnorm"}.get(layer, layer)


@functools.cache
def problem(layer, seed, dtype):
    """The layer's cases for this seed, inputs in dtype ("float64", "float32"): a tuple of Case."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {layer!r}")
    rng = np.random.default_rng(seed)
    cast = lambda a: np.asarray(a, np.float64).astype(dtype)  # noqa: E731
    fam = family(layer)
    if fam == "conv":
        return tuple(_conv(rng, cast, *c) for c in CONV_CASES)
    if fam == "pool":
        modes = {"pool": ("max", "average"), "pool_max": ("max",), "pool_average": ("average",)}[layer]
        return tuple(_pool(rng, cast, mode, *c) for mode in modes for c in POOL_CASES)
    if fam in ("rnn_cell", "rnn", "lstm_cell", "lstm"):
        return (_recurrent(rng, cast, fam),)
    return (_batchnorm(rng, cast),)


def _conv(rng, cast, n_H_prev, n_W_prev, f, stride, pad):
    m, n_C_prev, n_C = CONV["m"], CONV["n_C_prev"], CONV["n_C"]
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    inputs = {"A_prev": cast(rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev))),
              "W": cast(rng.standard_normal((f, f, n_C_prev, n_C)) / f),
              "b": cast(0.5 * rng.standard_normal((1, 1, 1, n_C))),
              "hparameters": {"stride": stride, "pad": pad}}
    dims = dict(m=m, n_H_prev=n_H_prev, n_W_prev=n_W_prev, n_C_prev=n_C_prev, n_C=n_C, f=f, n_H=n_H, n_W=n_W,
                stride=stride, pad=pad)
    return Case(f"stride={stride} pad={pad} f={f}", inputs, {"dZ": cast(rng.standard_normal((m, n_H, n_W, n_C)))},
                dims)


def _pool(rng, cast, mode, n_H_prev, n_W_prev, f, stride):
    m, n_C = POOL["m"], POOL["n_C"]
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    size = m * n_H_prev * n_W_prev * n_C
    distinct = rng.permutation(size) + 0.5 + 0.3 * rng.uniform(-1, 1, size)  # >= 0.4 apart
    A_prev = (4 * distinct / size - 2).reshape(m, n_H_prev, n_W_prev, n_C)
    dims = dict(m=m, n_H_prev=n_H_prev, n_W_prev=n_W_prev, n_C=n_C, f=f, n_H=n_H, n_W=n_W, stride=stride)
    return Case(f"{mode} f={f} stride={stride}", {"A_prev": cast(A_prev), "hparameters": {"f": f, "stride": stride}},
                {"dA": cast(rng.standard_normal((m, n_H, n_W, n_C)))}, dims, mode=mode)


def _recurrent(rng, cast, fam):
    n_x, n_a, n_y, m, T_x = (RNN[k] for k in ("n_x", "n_a", "n_y", "m", "T_x"))
    if fam.startswith("rnn"):
        shapes = {"Wax": (n_a, n_x), "Waa": (n_a, n_a), "Wya": (n_y, n_a), "ba": (n_a, 1), "by": (n_y, 1)}
    else:
        shapes = {k: s for g in GATES for k, s in ((f"W{g}", (n_a, n_a + n_x)), (f"b{g}", (n_a, 1)))}
        shapes.update(Wy=(n_y, n_a), by=(n_y, 1))
    parameters = {k: cast(0.5 * rng.standard_normal(s)) for k, s in shapes.items()}
    dims = dict(n_x=n_x, n_a=n_a, n_y=n_y, m=m, **{"n_a + n_x": n_a + n_x})
    if fam.endswith("cell"):
        inputs = {"xt": cast(rng.standard_normal((n_x, m))), "a_prev": cast(0.5 * rng.standard_normal((n_a, m)))}
        if fam == "lstm_cell":
            inputs["c_prev"] = cast(rng.standard_normal((n_a, m)))
        upstream = {"da_next": cast(rng.standard_normal((n_a, m)))}
        if fam == "lstm_cell":
            upstream["dc_next"] = cast(rng.standard_normal((n_a, m)))
        return Case(f"n_x={n_x} n_a={n_a} m={m}", {**inputs, "parameters": parameters}, upstream, dims)
    inputs = {"x": cast(rng.standard_normal((n_x, m, T_x))), "a0": cast(0.5 * rng.standard_normal((n_a, m))),
              "parameters": parameters}
    return Case(f"n_x={n_x} n_a={n_a} m={m} T_x={T_x}", inputs, {"da": cast(rng.standard_normal((n_a, m, T_x)))},
                {**dims, "T_x": T_x})


def _batchnorm(rng, cast):
    N, D = BATCHNORM["N"], BATCHNORM["D"]
    x = rng.standard_normal((N, D)) * rng.uniform(0.5, 2, D) + rng.uniform(-1, 1, D)
    inputs = {"x": cast(x), "gamma": cast(1 + 0.3 * rng.standard_normal(D)), "beta": cast(0.5 * rng.standard_normal(D)),
              "bn_param": {"mode": "train", "eps": 1e-5, "momentum": 0.9}}
    return Case(f"N={N} D={D}", inputs, {"dout": cast(rng.standard_normal((N, D)))}, {"N": N, "D": D})
