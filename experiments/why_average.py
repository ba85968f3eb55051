"""Why average over the m examples instead of summing?

Question
    J = (1/m) sum_i L(i) makes dW the mean of the per-example gradients; J = sum_i L(i) makes it the
    sum, m times larger. Is the batch gradient exactly the mean of per-example gradients (in every
    dtype), and what happens to training at a fixed learning rate when the batch grows?
Method
    (a) On 256 digits examples with a relu/softmax net, per-example gradients by vmap(grad)
    (jaxbp.per_example_grads): their mean against jaxbp.backward(placement="deferred"), their sum
    against placement="sum", and sum against m x mean, as Ng's relative error per dtype (float64,
    float32, bfloat16, float16); all compared with a float64 reference of the same rounded inputs.
    (b) Mini-batch gradient descent on digits (m = 1797; each step draws B columns with replacement,
    so B may exceed m) for B = 16 ... 4096 at one fixed learning rate, with the mean cost
    (placement "deferred") and the sum cost (placement "sum"), and the sum at learning rate / B; each
    (B, cost) is one lax.scan vmapped over the seeds. Measured: the full-data cost and accuracy after training; a run
    fails if its cost is NaN, above the start, or its accuracy below 50% (chance is 10%).
Run
    jaxbp experiment why_average            (full: 10 seeds, 1000 steps, B = 16 ... 4096)
    jaxbp experiment why_average --quick
Expected
    (a) mean(per-example) = batch gradient to a few eps of each dtype. (b) with the mean, the final
    cost hardly depends on B; with the sum, the step is B times larger, so training diverges (NaN or
    a cost above the start) from some B on; sum at lr / B retraces the mean. Refuted if the sum stays
    stable at every B.
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import backprop, datasets, model
from jaxbp.checking.compare import rel_error

from . import _common

NAME = "why_average"
HIDDEN, OUTPUT = "relu", "softmax"
VARIANTS = ("mean", "sum", "sum, lr / B")
FAILED_ACCURACY = 0.5  # a run "fails" if its cost is NaN, above the start, or accuracy < 50% (chance: 10%)


@dataclasses.dataclass(frozen=True)
class Config:
    """Per-example grads vs the batch grad; sum vs mean cost across batch sizes."""

    hidden_dims: tuple = (32,)
    m_check: int = 256
    dtypes: tuple = ("float64", "float32", "bfloat16", "float16")
    batch_sizes: tuple = (16, 64, 256, 1024, 4096)
    learning_rate: float = 0.02
    num_iterations: int = 1000
    seeds: int = 10
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    BOUNDS = {"m_check": (1, 1797)}  # digits has 1797 examples

    @classmethod
    def quick(cls):
        return cls(mode="quick", batch_sizes=(16, 1024), num_iterations=150, seeds=3)


@jax.jit
def gradients(params, X, Y):
    """The gradients (a) compares: mean and sum of the per-example grads, the batch grads, a float64 reference."""
    per_example = model.per_example_grads(params, X, Y, hidden=HIDDEN, output=OUTPUT)  # leading axis m
    AL, caches = model._forward(params, X, HIDDEN, OUTPUT)
    mean = backprop.backward(params, caches, AL, Y, hidden=HIDDEN, output=OUTPUT, placement="deferred")
    total = backprop.backward(params, caches, AL, Y, hidden=HIDDEN, output=OUTPUT, placement="sum")
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    ref = model.autodiff_grads(p64, X.astype(jnp.float64), Y.astype(jnp.float64), hidden=HIDDEN, output=OUTPUT)

    def acc(g):  # accumulate the m per-example gradients in at least float32, as XLA's matmuls do
        return g.astype(jnp.promote_types(g.dtype, jnp.float32))
    pe_mean = jax.tree.map(lambda g: jnp.mean(acc(g), axis=0).astype(g.dtype), per_example)
    pe_sum = jax.tree.map(lambda g: jnp.sum(acc(g), axis=0).astype(g.dtype), per_example)
    return {"pe_mean": pe_mean, "pe_sum": pe_sum, "mean": mean, "total": total, "ref": ref}


def per_example_check(params, X, Y):
    """Rel. errors: mean(per-example) vs deferred, sum(per-example) vs "sum", sum vs m x mean; float64 reference."""
    g = jax.device_get(gradients(params, X, Y))
    m = X.shape[1]

    def worst(a, b):
        return max(rel_error(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    m_times_mean = jax.tree.map(lambda x: m * np.asarray(x, np.float64), g["mean"])
    return {"mean_vs_batch": worst(g["pe_mean"], g["mean"]), "sum_vs_sum_batch": worst(g["pe_sum"], g["total"]),
            "sum_vs_m_times_mean": worst(g["total"], m_times_mean), "batch_vs_float64": worst(g["mean"], g["ref"]),
            "per_example_mean_vs_float64": worst(g["pe_mean"], g["ref"])}


@functools.partial(jax.jit, static_argnames=("layer_dims", "placement", "batch_size", "num_iterations"))
def train_seeds(keys, X, Y, learning_rate, *, layer_dims, placement, batch_size, num_iterations):
    """Sampled mini-batch GD for every key at once: (batch costs (seeds, T), full-data cost after, accuracy after).

    The batch cost is J of the placement: the mean over the batch, or for "sum" the sum.
    """
    def one(key):
        k_init, k_batches = jax.random.split(key)
        params = model.init_params(k_init, layer_dims, method="he", dtype=X.dtype)
        params, costs, _ = _common.gd(params, X, Y, hidden=HIDDEN, output=OUTPUT, placement=placement,
                                      learning_rate=learning_rate, num_iterations=num_iterations,
                                      batch_size=batch_size, key=k_batches, with_accuracy=False)
        AL, _ = model._forward(params, X, HIDDEN, OUTPUT)
        return costs, model._cost(params, X, Y, HIDDEN, OUTPUT, "mean"), _common.accuracy(AL, Y)
    return jax.vmap(one)(keys)


def run(cfg, *, cache=None):
    X64, Y64 = datasets.digits(dtype=jnp.float64)
    layer_dims = (X64.shape[0], *cfg.hidden_dims, Y64.shape[0])
    out = {"m": X64.shape[1], "layer_dims": layer_dims, "check": {}, "training": {}}
    for dtype in _common.progress(cfg.dtypes, NAME + " (a)"):
        def compute(dtype=dtype):
            dt = _common.DTYPES[dtype]
            params = model.init_params(jax.random.key(0), layer_dims, method="he", dtype=dt)
            return per_example_check(params, X64[:, :cfg.m_check].astype(dt), Y64[:, :cfg.m_check].astype(dt))
        out["check"][dtype] = _common.part(cache, f"check_{dtype}", compute)
    X, Y = X64.astype(jnp.float32), Y64.astype(jnp.float32)
    keys = jax.random.split(jax.random.key(1), cfg.seeds)
    cells = [(B, v) for B in cfg.batch_sizes for v in VARIANTS]
    for B, v in _common.progress(cells, NAME + " (b)"):
        def compute(B=B, v=v):
            lr = cfg.learning_rate / (B if v == "sum, lr / B" else 1)
            c, J, acc = train_seeds(keys, X, Y, jnp.float32(lr), layer_dims=layer_dims,
                                    placement="deferred" if v == "mean" else "sum", batch_size=B,
                                    num_iterations=cfg.num_iterations)
            J0 = model._cost(model.init_params(jax.random.key(0), layer_dims, method="he", dtype=X.dtype), X, Y,
                             HIDDEN, OUTPUT, "mean")
            return {"batch_costs": c, "final_cost": J, "final_accuracy": acc, "initial_cost": J0}
        out["training"][f"{v}|{B}"] = _common.part(cache, f"train_{B}_{v.replace(' ', '').replace('/', '_')}", compute)
    out["rows"] = rows_of(out, cfg)
    out["summary"] = summarize(out, cfg)
    return out


def rows_of(out, cfg):
    rows = []
    for B in cfg.batch_sizes:
        for v in VARIANTS:
            t = out["training"][f"{v}|{B}"]
            J = np.asarray(t["final_cost"], np.float64)
            acc = np.asarray(t["final_accuracy"], np.float64)
            failed = ~np.isfinite(J) | (J > t["initial_cost"]) | (acc < FAILED_ACCURACY)
            rows.append({"batch_size": B, "cost": v, "final_cost_median": float(np.median(J)),
                         "final_cost_max": float(np.max(J)), "final_accuracy_mean": float(np.mean(acc)),
                         "nan_seeds": int((~np.isfinite(J)).sum()), "failed_seeds": int(failed.sum()), "seeds": len(J)})
    return rows


def summarize(out, cfg):
    s = {f"{d}_{k}": v for d, c in out["check"].items() for k, v in c.items()}
    rows = out["rows"]
    for v in VARIANTS:
        sel = [r for r in rows if r["cost"] == v]
        s[f"first_B_failed|{v}"] = next((r["batch_size"] for r in sel if r["failed_seeds"] > r["seeds"] // 2), None)
        s[f"last_B_ok|{v}"] = max((r["batch_size"] for r in sel if r["failed_seeds"] == 0), default=None)
        s[f"final_cost_range|{v}"] = [min(r["final_cost_median"] for r in sel), max(r["final_cost_median"] for r in sel)]
    s["learning_rate"] = cfg.learning_rate
    return s


def figures(out, cfg):
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for v, marker in zip(VARIANTS, "os^", strict=True):
        sel = [r for r in out["rows"] if r["cost"] == v]
        y = [r["final_cost_median"] if np.isfinite(r["final_cost_median"]) else np.nan for r in sel]
        axes[0].plot([r["batch_size"] for r in sel], y, marker=marker, ms=9 - 2 * "os^".index(marker),
                     label=v + (" (lies on the mean)" if v == "sum, lr / B" else ""))
        for r, yy in zip(sel, y, strict=True):
            if not np.isfinite(yy):
                axes[0].annotate("NaN", (r["batch_size"], 1.0), color="tab:orange", ha="center")
    J0 = out["training"][f"mean|{cfg.batch_sizes[0]}"]["initial_cost"]
    axes[0].axhline(J0, color="gray", ls=":", label="cost at initialisation")
    axes[0].set(xscale="log", yscale="log", xlabel="batch size B", ylabel="full-data cost after training (median)",
                title=f"digits, fixed learning rate {cfg.learning_rate}, {cfg.num_iterations} steps")
    axes[0].legend()
    cmap = plt.get_cmap("viridis")
    for i, B in enumerate(cfg.batch_sizes):
        for v, ls in (("mean", "-"), ("sum", "--")):
            c = np.asarray(out["training"][f"{v}|{B}"]["batch_costs"], np.float64) / (B if v == "sum" else 1)
            axes[1].plot(np.nanmedian(c, axis=0), ls, color=cmap(i / max(1, len(cfg.batch_sizes) - 1)),
                         lw=1, label=f"{v}, B = {B}")
    axes[1].set(yscale="log", xlabel="iteration", ylabel="batch cost (median over seeds)",
                title="solid = mean cost, dashed = sum cost / B (gaps = NaN)")
    axes[1].legend(fontsize=7, ncol=2)
    return [("sum_vs_mean.png", fig)]


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        out = run(cfg, cache=cache)
        _common.print_table([{"dtype": d, **c} for d, c in out["check"].items()],
                            ["dtype", "mean_vs_batch", "sum_vs_sum_batch", "sum_vs_m_times_mean", "batch_vs_float64"])
        _common.print_table(out["rows"], ["batch_size", "cost", "final_cost_median", "final_accuracy_mean", "nan_seeds",
                                       "failed_seeds"])
        _common.write_outputs(cfg.out_dir, NAME, cfg, out, rows=out["rows"], figures=figures(out, cfg),
                              compute_seconds=cache.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
