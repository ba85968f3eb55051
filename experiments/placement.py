"""Does it matter numerically where the 1/m goes: Ng's deferred 1/m or 1/m absorbed once into dZ[L]?

Question
    deferred: dZ[L] = AL - Y, dW = (1/m) dZ A_prev.T, db = (1/m) sum dZ;  absorbed: dZ[L] = (AL - Y)/m,
    dW = dZ A_prev.T, db = sum dZ. In exact arithmetic they are the same. In float32, bfloat16 and
    float16, for m = 2^4 ... 2^20 and several depths, how far is each from float64, how many values
    underflow (subnormal, flushed to zero) or overflow (Inf, NaN), are they bit-identical in float32
    when m is a power of two, and does the summation order matter more than the placement?
Method
    A relu net (width `width`, sigmoid output, He init) on X ~ N(0, 1), Y ~ Bernoulli(1/2). Inputs are
    rounded to the dtype once; the float64 reference runs on exactly those rounded inputs. One jitted
    function per (dtype, depth, m) computes both placements with jaxbp.backward_from and reduces
    everything to scalars: Ng's relative error ||g - g64|| / (||g|| + ||g64||) of dW[l], db[l] (max
    over layers, and layer 1), the fractions of subnormal values, of zeros where float64 is nonzero
    ("lost"), of Inf and NaN in dZ[l], dW[l], db[l] (all layers pooled), and bit-identity of the two
    placements. Summation order: db[L] = sum_i dZ[L] and dW[L] three ways - XLA's reduce (jnp.sum,
    as backprop does), a matmul accumulation (dZ @ ones, dZ @ A.T) and a pairwise tree of additions
    in the dtype itself - each with both placements.
Run
    jaxbp experiment placement            (full: about 3 minutes on 2 idle cores, 181 s measured; 5 min of CPU time)
    jaxbp experiment placement --quick    (m = 16, 1000, 16384; depth 3)
Expected
    Pilot claim: in float16 absorbed underflows dZ/m into subnormals from m ~ 1e4 while deferred
    overflows sum dZ near m ~ 1e6; bfloat16 is indifferent; summation order matters more than placement.
    Confirmed if the float16 subnormal fraction of absorbed jumps at m ~ 1e4 and deferred shows Inf at
    the top m; refuted if not. Power-of-two m in float32 must give bit-identical placements (1/m is exact).
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import backprop, model
from jaxbp.checking.compare import rel_error

from . import _common

NAME = "placement"
PLACEMENTS = ("deferred", "absorbed")
ORDERS = ("xla_sum", "matmul", "pairwise")


@dataclasses.dataclass(frozen=True)
class Config:
    """Placement numerics: m = 2^k (log2_ms) and a few other m, per dtype and depth."""

    log2_ms: tuple = (4, 6, 8, 10, 12, 13, 14, 16, 18, 20)
    other_ms: tuple = (1000, 100000)
    depths: tuple = (2, 4, 8)
    width: int = 8
    dtypes: tuple = ("float32", "bfloat16", "float16")
    seed: int = 0
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    BOUNDS = {"log2_ms": (0, 26), "seed": (0, None)}  # m = 2^26 float64 inputs of width 8: 4 GiB

    @classmethod
    def quick(cls):
        return cls(mode="quick", log2_ms=(4, 14), other_ms=(1000,), depths=(3,))


def pairwise_sum(x):
    """sum over the last axis by a balanced tree of additions in x's own dtype (zero-padded to 2^k; NumPy)."""
    n = x.shape[-1]
    size = 1 << max(n - 1, 0).bit_length()
    x = np.concatenate([x, np.zeros(x.shape[:-1] + (size - n,), x.dtype)], axis=-1)
    while x.shape[-1] > 1:
        x = x[..., 0::2] + x[..., 1::2]  # each addition rounds to x.dtype
    return x[..., 0]


def _fractions(arrays, references):
    """Fractions of subnormal, lost (0 where float64 is not), Inf and NaN over the pooled arrays."""
    tiny = float(jnp.finfo(arrays[0].dtype).tiny)
    x = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    r = np.concatenate([np.asarray(a, np.float64).ravel() for a in references])
    return {"subnormal": np.mean((x != 0) & (np.abs(x) < tiny)), "lost": np.mean((x == 0) & (r != 0)),
            "inf": np.mean(np.isinf(x)), "nan": np.mean(np.isnan(x))}


@functools.partial(jax.jit, static_argnames=("placement",))
def backward(params, X, Y, *, placement):
    """grads, steps (dZ[l] per layer) and A[L-1] of the relu/sigmoid net, in the inputs' dtype."""
    AL, caches = model._forward(params, X, "relu", "sigmoid")
    m = X.shape[1]
    dZL = backprop.output_dZL(AL, Y, caches, output="sigmoid", start="dZL", placement=placement, m=m)
    grads, steps = backprop.backward_from(dZL, params, caches, hidden="relu", placement=placement, m=m,
                                          intermediates=True)
    return grads, [s.dZ for s in steps], caches[-1].A_prev


@functools.partial(jax.jit, static_argnames=("placement",))
def xla_orders(dZL, A_prev, *, placement):
    """(dW[L], db[L]) summed over m by XLA's reduce (as backprop does) and by a matmul accumulation."""
    m = dZL.shape[1]
    s = 1 / m if placement == "deferred" else 1
    dW = dZL @ A_prev.T  # (1, n_{L-1})
    return {"xla_sum": (s * dW, s * jnp.sum(dZL, axis=1, keepdims=True)),
            "matmul": (s * dW, s * (dZL @ jnp.ones((m, 1), dZL.dtype)))}


def measure(params64, X64, Y64, dtype):
    """Every scalar of one (dtype, depth, m) cell; inputs rounded to dtype, reference in float64."""
    with np.errstate(over="ignore", invalid="ignore"):  # Inf and NaN are what this experiment counts
        return _measure(params64, X64, Y64, dtype)


def _measure(params64, X64, Y64, dtype):
    params = jax.tree.map(lambda p: p.astype(dtype), params64)
    X, Y = X64.astype(dtype), Y64.astype(dtype)
    params_r = jax.tree.map(lambda p: p.astype(jnp.float64), params)  # the same rounded inputs, in float64
    out, grads = {}, {}
    for placement in PLACEMENTS:
        grads[placement], dZ, A_prev = jax.device_get(backward(params, X, Y, placement=placement))
        ref, ref_dZ, _ = jax.device_get(backward(params_r, X.astype(jnp.float64), Y.astype(jnp.float64),
                                                 placement=placement))
        errs_W = [rel_error(g.W, r.W) for g, r in zip(grads[placement], ref, strict=True)]
        out[placement] = {"err_dW_max": max(errs_W), "err_dW_first": errs_W[0],
                          "err_db_max": max(rel_error(g.b, r.b) for g, r in zip(grads[placement], ref, strict=True)),
                          "dZ": _fractions(dZ, ref_dZ), "dW": _fractions([g.W for g in grads[placement]], [r.W for r in ref]),
                          "db": _fractions([g.b for g in grads[placement]], [r.b for r in ref])}
        orders = jax.device_get(xla_orders(dZ[-1], A_prev, placement=placement))
        s = np.asarray(1 / X.shape[1] if placement == "deferred" else 1, dZ[-1].dtype)  # 1/m rounded as backprop does
        orders["pairwise"] = (s * pairwise_sum(dZ[-1][:, None, :] * A_prev[None, :, :]), s * pairwise_sum(dZ[-1])[:, None])
        dZL64, A64 = np.asarray(dZ[-1], np.float64), np.asarray(A_prev, np.float64)  # the summands, exactly
        s64 = 1 / X.shape[1] if placement == "deferred" else 1
        exact_dW, exact_db = s64 * (dZL64 @ A64.T), s64 * dZL64.sum(axis=1, keepdims=True)
        for order in ORDERS:  # error of the sum alone: against the exact sum of the same rounded terms
            out[placement][f"order_{order}_dW"] = rel_error(orders[order][0], exact_dW)
            out[placement][f"order_{order}_db"] = rel_error(orders[order][1], exact_db)
    out["placement_diff_dW"] = max(rel_error(a.W, b.W) for a, b in zip(grads["deferred"], grads["absorbed"], strict=True))
    out["placement_diff_db"] = max(rel_error(a.b, b.b) for a, b in zip(grads["deferred"], grads["absorbed"], strict=True))
    out["bit_identical"] = all(np.array_equal(a, b) for ga, gb in zip(grads["deferred"], grads["absorbed"], strict=True)
                               for a, b in zip(ga, gb, strict=True))
    return out


def inputs(key, depth, width, m):
    """float64 params (He init), X ~ N(0, 1) (width, m) and Y ~ Bernoulli(1/2) (1, m)."""
    k_p, k_x, k_y = jax.random.split(key, 3)
    params = model.init_params(k_p, (width,) * depth + (1,), method="he", dtype=jnp.float64)
    X = jax.random.normal(k_x, (width, m), jnp.float64)
    Y = jax.random.bernoulli(k_y, 0.5, (1, m)).astype(jnp.float64)
    return params, X, Y


def run(cfg, *, cache=None):
    """rows: one per (dtype, depth, m, placement) with errors, fractions, order errors, bit identity."""
    ms = sorted({2 ** k for k in cfg.log2_ms} | set(cfg.other_ms))
    cells = [(d, depth, m) for d in cfg.dtypes for depth in cfg.depths for m in ms]
    rows = []
    for dtype, depth, m in _common.progress(cells, NAME):
        def compute(dtype=dtype, depth=depth, m=m):
            params, X, Y = inputs(jax.random.fold_in(jax.random.key(cfg.seed), depth * 10**7 + m), depth, cfg.width, m)
            return measure(params, X, Y, _common.DTYPES[dtype])
        cell = _common.part(cache, f"{dtype}_d{depth}_m{m}", compute)
        for placement in PLACEMENTS:
            c = cell[placement]
            row = {"dtype": dtype, "depth": depth, "m": m, "placement": placement,
                   "bit_identical": bool(cell["bit_identical"]), "placement_diff_dW": cell["placement_diff_dW"],
                   "placement_diff_db": cell["placement_diff_db"],
                   **{k: v for k, v in c.items() if not isinstance(v, dict)}}
            for where in ("dZ", "dW", "db"):
                row.update({f"{where}_{k}": v for k, v in c[where].items()})
            rows.append(row)
    return {"rows": rows, "summary": summarize(rows, cfg)}


def summarize(rows, cfg):
    """The headline numbers the report quotes."""
    def first_m(pred, dtype, placement):
        ms = sorted(r["m"] for r in rows if r["dtype"] == dtype and r["placement"] == placement and pred(r))
        return ms[0] if ms else None

    def pow2(m):
        return m & (m - 1) == 0

    f32 = [r for r in rows if r["dtype"] == "float32" and r["placement"] == "deferred"]
    s = {"float32_pow2_bit_identical": all(r["bit_identical"] for r in f32 if pow2(r["m"])),
         "float32_pow2_cells": sum(pow2(r["m"]) for r in f32),
         "float32_other_m_bit_identical": sorted({r["m"] for r in f32 if not pow2(r["m"]) and r["bit_identical"]}),
         "float32_other_m": sorted({r["m"] for r in f32 if not pow2(r["m"])}),
         "top_m": max(r["m"] for r in rows), "depth": max(cfg.depths)}
    s["float32_max_placement_diff_dW"] = max((r["placement_diff_dW"] for r in f32), default=None)
    for dtype in cfg.dtypes:
        cells = [r for r in rows if r["dtype"] == dtype and r["placement"] == "deferred" and pow2(r["m"])]
        s[f"{dtype}_pow2_identical_cells"] = [sum(r["bit_identical"] for r in cells), len(cells)]
        s[f"{dtype}_pow2_not_identical"] = sorted({(r["m"], r["depth"]) for r in cells if not r["bit_identical"]})
    for dtype in cfg.dtypes:
        for p in PLACEMENTS:
            sel = [r for r in rows if r["dtype"] == dtype and r["placement"] == p]
            s[f"{dtype}_{p}_first_m_dZ_subnormal_over_1pct"] = first_m(lambda r: r["dZ_subnormal"] > 0.01, dtype, p)
            s[f"{dtype}_{p}_first_m_dZ_half_subnormal"] = first_m(lambda r: r["dZ_subnormal"] + r["dZ_lost"] > 0.5,
                                                                   dtype, p)
            s[f"{dtype}_{p}_first_m_grad_lost"] = first_m(lambda r: r["err_dW_max"] >= 0.5 and r["dW_inf"] + r["dW_nan"] == 0,
                                                          dtype, p)
            s[f"{dtype}_{p}_first_m_dZ_lost_over_1pct"] = first_m(lambda r: r["dZ_lost"] > 0.01, dtype, p)
            s[f"{dtype}_{p}_first_m_nonfinite"] = first_m(
                lambda r: r["dW_inf"] + r["dW_nan"] + r["db_inf"] + r["db_nan"] > 0, dtype, p)
            s[f"{dtype}_{p}_max_dZ_subnormal"] = max(r["dZ_subnormal"] for r in sel)
            s[f"{dtype}_{p}_max_dZ_lost"] = max(r["dZ_lost"] for r in sel)
            s[f"{dtype}_{p}_max_err_dW_finite"] = max((r["err_dW_max"] for r in sel
                                                       if r["dW_inf"] + r["dW_nan"] == 0), default=None)
        finite = [r for r in rows if r["dtype"] == dtype and r["depth"] == s["depth"] and r["placement"] == "deferred"
                  and r["dW_inf"] + r["dW_nan"] + r["db_inf"] + r["db_nan"] == 0]
        top = [max(finite, key=lambda r: r["m"])] if finite else []  # the largest m where this dtype stays finite
        s[f"{dtype}_order_m"] = top[0]["m"] if top else None
        for o in ORDERS:
            s[f"{dtype}_order_{o}_db_err_top_m"] = top[0][f"order_{o}_db"] if top else None
            s[f"{dtype}_order_{o}_dW_err_top_m"] = top[0][f"order_{o}_dW"] if top else None
        s[f"{dtype}_placement_diff_dW_top_m"] = top[0]["placement_diff_dW"] if top else None
        s[f"{dtype}_placement_diff_dW_median"] = float(np.median([r["placement_diff_dW"] for r in rows
                                                                 if r["dtype"] == dtype]))
        s[f"{dtype}_order_pairwise_db_err_median"] = float(np.median([r["order_pairwise_db"] for r in rows
                                                                     if r["dtype"] == dtype]))
        s[f"{dtype}_order_xla_sum_db_err_median"] = float(np.median([r["order_xla_sum_db"] for r in rows
                                                                    if r["dtype"] == dtype]))
    return s


COLORS = {"float32": "tab:blue", "bfloat16": "tab:orange", "float16": "tab:red"}


def _series(rows, dtype, placement, depth):
    return sorted((r for r in rows if r["dtype"] == dtype and r["placement"] == placement and r["depth"] == depth),
                  key=lambda r: r["m"])


def figures(rows, cfg):
    plt = _common.pyplot()
    depth = max(cfg.depths)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    metrics = (lambda r: r["err_dW_max"] if r["dW_inf"] + r["dW_nan"] == 0 else float("nan"),
               lambda r: 100 * (r["dZ_subnormal"] + r["dZ_lost"]),
               lambda r: 100 * (r["dW_inf"] + r["dW_nan"] + r["db_inf"] + r["db_nan"]) / 2)
    for dtype in cfg.dtypes:
        for p, ls in zip(PLACEMENTS, ("-", "--"), strict=True):
            sel = _series(rows, dtype, p, depth)
            for ax, f in zip(axes, metrics, strict=True):
                pow2 = [r for r in sel if r["m"] & (r["m"] - 1) == 0]  # lines: m = 2^k; crosses: other m
                other = [r for r in sel if r["m"] & (r["m"] - 1)]
                ax.plot([r["m"] for r in pow2], [f(r) for r in pow2], ls, color=COLORS.get(dtype), marker="o", ms=3,
                        label=f"{dtype} {p}")
                ax.plot([r["m"] for r in other], [f(r) for r in other], "x", color=COLORS.get(dtype), ms=7)
    axes[0].set(xscale="log", yscale="log", xlabel="m (examples)", title=f"max rel. error of dW[l] vs float64, depth {depth}")
    axes[1].set(xscale="log", xlabel="m (examples)", ylabel="%", title="dZ[l]: % subnormal or flushed to 0")
    axes[2].set(xscale="log", xlabel="m (examples)", ylabel="%", title="dW[l], db[l]: % Inf or NaN")
    axes[1].legend(fontsize=8)
    axes[2].set_ylim(-2, max(5, axes[2].get_ylim()[1]))
    fig.suptitle("solid = deferred 1/m (Ng's notes), dashed = 1/m absorbed into dZ[L]; x = m not a power of 2; "
                 "a gap in the left panel = the gradient holds Inf/NaN")
    fig2, axes2 = plt.subplots(1, len(cfg.dtypes), figsize=(5 * len(cfg.dtypes), 4.2), squeeze=False)
    for ax, dtype in zip(axes2[0], cfg.dtypes, strict=True):
        sel = [r for r in _series(rows, dtype, "deferred", depth) if r["m"] & (r["m"] - 1) == 0]
        ms = [r["m"] for r in sel]
        for o, marker, color in zip(ORDERS, "os^", ("tab:blue", "tab:orange", "tab:green"), strict=True):
            ax.plot(ms, [max(r[f"order_{o}_dW"], 1e-17) for r in sel], marker=marker, ms=5 + 2 * (o == "xla_sum"),
                    color=color, label=f"dW[L], sum order: {o}")
            ax.plot(ms, [max(r[f"order_{o}_db"], 1e-17) for r in sel], ":", marker=marker, ms=3, color=color, lw=0.8,
                    alpha=0.6, label=f"db[L], {o}" if o == "pairwise" else None)
        ax.plot(ms, [max(r["placement_diff_dW"], 1e-17) for r in sel], "k--", lw=2, label="deferred vs absorbed (dW)")
        ax.set(xscale="log", yscale="log", xlabel="m (examples)", title=f"{dtype}, depth {depth}")
    axes2[0][0].set_ylabel("relative error (floor 1e-17 = exact)")
    axes2[0][0].legend(fontsize=8)
    fig2.suptitle("error of the sum over m in dW[L] (solid) and db[L] (dotted), m = 2^k, by summation order, against\n"
                  "the exact sum of the same terms; dashed = deferred vs absorbed (xla_sum and matmul coincide)")
    return [("placement_numerics.png", fig), ("summation_order.png", fig2)]


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        results = run(cfg, cache=cache)
        rows = results["rows"]
        _common.print_table([r for r in rows if r["depth"] == max(cfg.depths)],
                            ["dtype", "m", "placement", "err_dW_max", "dZ_subnormal", "dZ_lost", "dW_inf", "bit_identical"])
        _common.write_outputs(cfg.out_dir, NAME, cfg, results, rows=rows, figures=figures(rows, cfg),
                              compute_seconds=cache.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
