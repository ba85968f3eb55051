"""Where is each way of starting backprop at the output finite and accurate: the dAL chain, dZ[L] = AL - Y, or logits?

Question
    The course starts backprop from dAL = -(Y/AL - (1-Y)/(1-AL)) and then dZ[L] = dAL * g'(Z[L]);
    the fused rule is dZ[L] = AL - Y; autodiff of the loss written from the logits Z[L]
    (L = softplus(z) - y z) gives the same number a third way. Over which range of z = Z[L] is each
    finite, and accurate, in float16, bfloat16, float32 and float64? (Pilot: the dAL chain is NaN
    from z >= 17 in float32.)
Method
    For a sigmoid output unit, z on a grid over [-z_max, z_max] and y in {0, 1}, compute in each dtype:
    "dAL chain" = jaxbp.backprop.output_dAL then activation_backward (the course), "dZL rule" = AL - Y,
    "logits autodiff" = jax.grad of jaxbp.costs.loss_from_logits w.r.t. z. The exact value is
    sigmoid(z) - y, computed in float64 as sigmoid(z) for y = 0 and -sigmoid(-z) for y = 1 (no
    cancellation). Finite range: the largest interval around 0 where a method is finite for both
    labels. Accurate: absolute error <= 8 eps(dtype) (the gradient is bounded by 1, so this is a
    few last-place errors); relatively accurate: relative error <= 1% (the tiny gradients of
    confidently right predictions still have the right size). The cost itself is checked the same way:
    loss_from_probabilities (the course's J) against loss_from_logits.
Run
    jaxbp experiment dal_vs_dzl            (full: step 1/16 over [-120, 120])
    jaxbp experiment dal_vs_dzl --quick
Expected
    dAL chain NaN once sigmoid(z) rounds to 1 (float32: z ~ 17; float16/bfloat16: far smaller z) and
    for very negative z once it rounds to 0; AL - Y finite everywhere and accurate in absolute terms;
    logits autodiff finite and relatively accurate everywhere. Refuted if the dAL chain stays finite.
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import activations, backprop, costs

from . import _common

NAME = "dal_vs_dzl"
METHODS = ("dAL chain", "dZL rule", "logits autodiff")
ABS_ULPS = 8  # "accurate": |error| <= 8 eps(dtype) (times |exact| when that exceeds 1, for the loss)
REL_TOL = 0.01  # "relatively accurate": |error| <= 1% of |exact| (tiny gradients have the right size)


@dataclasses.dataclass(frozen=True)
class Config:
    """dL/dZ[L] of a sigmoid output by three routes over z in [-z_max, z_max], per dtype."""

    z_max: float = 120.0
    z_step: float = 1 / 16
    dtypes: tuple = ("float16", "bfloat16", "float32", "float64")
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    MAX_POINTS = 10**7  # grid points per dtype and label: 2 z_max / z_step

    def __post_init__(self):
        if 2 * self.z_max / self.z_step > self.MAX_POINTS:
            raise ValueError(f"argument --z-step: {self.z_step:g} makes {2 * self.z_max / self.z_step:.3g} grid points "
                             f"over [-{self.z_max:g}, {self.z_max:g}]; at most {self.MAX_POINTS:.0e}")

    @classmethod
    def quick(cls):
        return cls(mode="quick", z_step=1 / 4)


@jax.jit
def routes(Z, Y):
    """dL/dZ[L] three ways for Z, Y of one dtype (1, n): the dAL chain, AL - Y, jax.grad of the logits loss."""
    AL = activations.sigmoid(Z)
    dAL = backprop.output_dAL(AL, Y, output="sigmoid")
    chain = backprop.activation_backward(dAL, Z, activation="sigmoid")
    logits = jax.grad(lambda z: jnp.sum(costs.loss_from_logits(z, Y, output="sigmoid")))(Z)
    J_prob = costs.loss_from_probabilities(AL, Y, output="sigmoid")
    J_logits = costs.loss_from_logits(Z, Y, output="sigmoid")
    return {"dAL chain": chain, "dZL rule": AL - Y, "logits autodiff": logits, "J_prob": J_prob, "J_logits": J_logits}


@functools.partial(jax.jit, static_argnames=())
def exact(z, y):
    """sigmoid(z) - y and the BCE loss in float64 without cancellation."""
    grad = jnp.where(y == 1, -jax.nn.sigmoid(-z), jax.nn.sigmoid(z))
    loss = jnp.where(y == 1, jax.nn.softplus(-z), jax.nn.softplus(z))
    return grad, loss


def _range(z, ok):
    """The largest interval [lo, hi] around z = 0 where ok holds at every grid point (ok: (n,) bool)."""
    i0 = int(np.argmin(np.abs(z)))
    if not ok[i0]:
        return [0.0, 0.0]
    bad_right = np.nonzero(~ok[i0:])[0]
    bad_left = np.nonzero(~ok[: i0 + 1][::-1])[0]
    hi = z[i0 + bad_right[0] - 1] if bad_right.size else float("inf")
    lo = z[i0 - bad_left[0] + 1] if bad_left.size else float("-inf")
    return [float(lo), float(hi)]


def measure(z64, dtype):
    """Per method: finite, accurate and relatively accurate ranges, and error curves (for y = 0 and 1)."""
    eps = float(jnp.finfo(dtype).eps)
    out = {"curves": {}}
    ok = {k: {"finite": [], "accurate": [], "rel_accurate": []} for k in (*METHODS, "J_prob", "J_logits")}
    for y in (0, 1):
        Z = jnp.asarray(z64, dtype)[None, :]  # (1, n): one unit, n "examples"
        zr = np.asarray(Z.astype(jnp.float64))[0]  # the grid as the dtype holds it
        got = jax.device_get(routes(Z, jnp.full_like(Z, y)))
        ref_grad, ref_loss = (np.asarray(a) for a in exact(zr, np.full_like(zr, y)))
        for k, v in got.items():
            v = np.asarray(v, np.float64)[0]
            ref = ref_loss if k.startswith("J") else ref_grad
            err = np.abs(v - ref)
            ok[k]["finite"].append(np.isfinite(v))
            ok[k]["accurate"].append(np.isfinite(v) & (err <= ABS_ULPS * eps * np.maximum(1.0, np.abs(ref))))
            ok[k]["rel_accurate"].append(np.isfinite(v) & (err <= REL_TOL * np.abs(ref)))
            out["curves"][f"{k}|y={y}"] = np.where(np.isfinite(v), err, np.nan)
    z = np.asarray(jnp.asarray(z64, dtype).astype(jnp.float64))
    for k, crit in ok.items():
        out[k] = {c: _range(z, np.logical_and(*v)) for c, v in crit.items()}
    out["z"] = z
    return out


def run(cfg, *, cache=None):
    z64 = np.arange(-cfg.z_max, cfg.z_max + cfg.z_step / 2, cfg.z_step)
    results, rows = {}, []
    for dtype in _common.progress(cfg.dtypes, NAME):
        results[dtype] = _common.part(cache, dtype, lambda dtype=dtype: measure(z64, _common.DTYPES[dtype]))
        for k in (*METHODS, "J_prob", "J_logits"):
            rows.append({"dtype": dtype, "method": k,
                         **{f"{c}_{side}": results[dtype][k][c][i] for c in ("finite", "accurate", "rel_accurate")
                            for i, side in enumerate(("lo", "hi"))}})
    return {"per_dtype": results, "rows": rows}


def figures(results, cfg):
    plt = _common.pyplot()
    methods = (*METHODS, "J_prob", "J_logits")
    labels = {"dAL chain": "dZ[L] by the dAL chain (course)", "dZL rule": "dZ[L] = AL - Y",
              "logits autodiff": "dZ[L] by jax.grad from logits", "J_prob": "cost from AL (course)",
              "J_logits": "cost from logits"}
    fig, ax = plt.subplots(figsize=(12, 0.42 * len(cfg.dtypes) * len(methods) + 1.5))
    shades = (("finite", 0.25, "finite"), ("accurate", 0.55, f"abs. error <= {ABS_ULPS} eps"),
              ("rel_accurate", 1.0, f"rel. error <= {REL_TOL:.0%}"))
    ticks, names = [], []
    for i, (dtype, k) in enumerate((d, k) for d in cfg.dtypes for k in methods):
        y = -i - list(cfg.dtypes).index(dtype)  # a gap between dtypes
        color = {"float16": "tab:red", "bfloat16": "tab:orange", "float32": "tab:blue", "float64": "tab:green"}[dtype]
        for crit, alpha, label in shades:
            lo, hi = (max(-cfg.z_max, v) if v < 0 else min(cfg.z_max, v) for v in results["per_dtype"][dtype][k][crit])
            ax.barh(y, hi - lo, left=lo, height=0.8, color=color, alpha=alpha,
                    label=label if (i == 0) else None)
        hi = results["per_dtype"][dtype][k]["finite"][1]
        if np.isfinite(hi):
            ax.text(min(hi, cfg.z_max) + 1, y, f"finite up to z = {hi:g}, then NaN/Inf", va="center", fontsize=7)
        ticks.append(y)
        names.append(f"{dtype}: {labels[k]}")
    ax.set_yticks(ticks, names, fontsize=8)
    ax.set(xlabel=f"z = Z[L] (grid step {cfg.z_step:g}; bars reaching +-{cfg.z_max:g} go on beyond the grid)",
           xlim=(-cfg.z_max, cfg.z_max + 45),
           title="sigmoid output unit, labels y = 0 and 1: where is dL/dZ[L] (and the cost) finite and accurate?")
    ax.axvline(0, color="k", lw=0.5)
    ax.legend(loc="lower right", fontsize=8)
    return [("dal_vs_dzl.png", fig)]


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        results = run(cfg, cache=cache)
        _common.print_table(results["rows"], ["dtype", "method", "finite_lo", "finite_hi", "accurate_lo", "accurate_hi",
                                              "rel_accurate_lo", "rel_accurate_hi"])
        _common.write_outputs(cfg.out_dir, NAME, cfg, results, rows=results["rows"], figures=figures(results, cfg),
                              compute_seconds=cache.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
