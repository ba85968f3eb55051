"""Averaging gradients across devices: is the pmean of per-device means the global mean, and where should 1/m go?

Question
    (a) With the m examples split over D devices in shards of n_k examples, frameworks often
        all-reduce with a pmean of the per-device mean gradients. How wrong is that when the n_k
        differ (a last batch that does not divide by D), and does the error equal the formula
            pmean - exact = sum_k (1/D - n_k/m) mean_k ?
        Does jaxbp's psum of the sums and the counts give the single-device gradient?
    (b) In float16 and bfloat16, dividing by m before the cross-device psum (each device adds
        terms already divided) or after it (devices add raw sums): which underflows, which
        overflows, and which is the safer default?
Method
    (a) The course's flower set (m examples, stored class 0 then class 1, so shards in stored
        order see different classes: "sorted"; or shuffled: "shuffled"), a 2-4-1 tanh/sigmoid
        net, float64. Shard sizes n_k decrease linearly by `imbalance` (0: even; 0.9: 476, 325,
        175, 24 for m = 1000 on 4 devices). jaxbp.parallel.data_parallel_grads (exact) and
        pmean_of_means_grads (naive) on D devices, against jax.grad on one device; the predicted
        error from per-example grads (vmap) and jaxbp.parallel.pmean_error.
    (b) A 4-8-1 relu/sigmoid net with X ~ N(1, 1) and Y = 1, a worst case for overflow (every
        example pushes dW the same way, so the sums grow like m), params and X rounded to the
        dtype; data_parallel_grads for placement deferred/absorbed x divide before/after,
        against float64 on the same rounded inputs: Ng's relative error and non-finite count.
Run
    jaxbp experiment device_averaging
    jaxbp experiment device_averaging --quick
Expected
    (a) exact within 1e-15 of one device; naive error zero for even shards, growing with the
        imbalance when shard means differ (sorted), equal to the formula to rounding.
        Refuted if the naive error differs from the formula or the exact one from one device.
    (b) float16: divide after gives Inf once the summed |dW| entries pass 65504; divide before
        stays finite longer (deferred: until a device's own sum overflows; absorbed: never, but
        loses accuracy to subnormals). bfloat16 (float32's range): no difference.
"""

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import datasets, model, parallel
from jaxbp.checking.compare import rel_error as compare_rel_error

from . import _common

NAME = "device_averaging"
DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32}


@dataclasses.dataclass(frozen=True)
class Config:
    n_devices: int = 4
    m: int = 1000
    imbalances: tuple = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9)
    seeds: tuple = (0, 1, 2)
    dtypes: tuple = ("float16", "bfloat16", "float32")
    log2_ms: tuple = (12, 14, 16, 17, 18, 19, 20, 21, 22)
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    BOUNDS = {"seeds": (0, None), "imbalances": (0.0, 0.95), "log2_ms": (1, 24)}
    CHOICES = {"dtypes": tuple(DTYPES)}

    def __post_init__(self):
        if self.m % 2 or self.m < 2 * self.n_devices:
            raise ValueError(f"argument --m: the flower data needs an even m of at least 2 per device, got {self.m}")

    @classmethod
    def quick(cls):
        return cls(mode="quick", imbalances=(0.0, 0.9), seeds=(0,), dtypes=("float16",), log2_ms=(17,))


def rel_error(a, b):
    """Ng's ||a - b|| / (||a|| + ||b||), the largest over the leaves (layers' dW, db)."""
    return max(compare_rel_error(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def error_vs(a, exact):
    """||a - exact|| / ||exact|| over all of dW, db at once (per-leaf ratios blow up on a near-zero db)."""
    flat = lambda t: np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(t)])  # noqa: E731
    return float(np.linalg.norm(flat(a) - flat(exact)) / np.linalg.norm(flat(exact)))


def skewed_counts(m, n_devices, imbalance):
    """n_k proportional to 1 + imbalance (D - 1 - 2k) / (D - 1), rounded, summing to m."""
    k = np.arange(n_devices)
    w = 1 + imbalance * (n_devices - 1 - 2 * k) / max(n_devices - 1, 1)
    counts = np.floor(m * w / w.sum()).astype(int)
    counts[: m - counts.sum()] += 1
    return tuple(int(n) for n in counts)


def averaging(cfg, devices):
    rows = []
    for seed in cfg.seeds:
        k_data, k_init, k_perm = jax.random.split(jax.random.key(seed), 3)
        X, Y = datasets.flower(k_data, cfg.m, dtype=jnp.float64)
        params = model.init_params(k_init, (2, 4, 1), method="xavier", dtype=jnp.float64)
        perm = jax.random.permutation(k_perm, cfg.m)
        for data, (Xd, Yd) in (("sorted", (X, Y)), ("shuffled", (X[:, perm], Y[:, perm]))):
            exact = model.autodiff_grads(params, Xd, Yd, hidden="tanh")  # one device
            per_example = model.per_example_grads(params, Xd, Yd, hidden="tanh")
            for imbalance in cfg.imbalances:
                counts = skewed_counts(cfg.m, len(devices), imbalance)
                starts = np.cumsum((0,) + counts)
                means = [jax.tree.map(lambda g, a=a, b=b: jnp.mean(g[a:b], axis=0), per_example)
                         for a, b in zip(starts[:-1], starts[1:], strict=True)]
                ours = parallel.data_parallel_grads(params, Xd, Yd, devices=devices, counts=counts, hidden="tanh")
                naive = parallel.pmean_of_means_grads(params, Xd, Yd, devices=devices, counts=counts, hidden="tanh")
                predicted = parallel.pmean_error(means, counts)
                measured = jax.tree.map(jnp.subtract, naive, exact)
                rows.append({"seed": seed, "data": data, "imbalance": imbalance, "counts": counts,
                             "exact_rel_error": rel_error(ours, exact), "naive_error": error_vs(naive, exact),
                             "predicted_naive_error": error_vs(jax.tree.map(jnp.add, exact, predicted), exact),
                             "formula_rel_error": rel_error(measured, predicted) if imbalance > 0 else 0.0})
    return rows


def precision(cfg, devices):
    rows = []
    k_p, k_x = jax.random.split(jax.random.key(0))
    params32 = model.init_params(k_p, (4, 8, 1), dtype=jnp.float32)
    up = lambda t: jax.tree.map(lambda a: a.astype(jnp.float64), t)  # noqa: E731
    for log2_m in cfg.log2_ms:
        m = 2**log2_m
        X32 = jax.random.normal(k_x, (4, m), jnp.float32) + 1
        for name in cfg.dtypes:
            dtype = DTYPES[name]
            params = jax.tree.map(lambda a, dtype=dtype: a.astype(dtype), params32)
            X, Y = X32.astype(dtype), jnp.ones((1, m), dtype)
            ref = model.autodiff_grads(up(params), up(X), up(Y))
            largest_sum = max(float(jnp.max(jnp.abs(g))) * m for g in jax.tree.leaves(ref))
            for placement in ("deferred", "absorbed"):
                for divide in ("before", "after"):
                    g = parallel.data_parallel_grads(params, X, Y, devices=devices, placement=placement,
                                                     divide=divide)
                    n_bad = sum(int(jnp.sum(~jnp.isfinite(a))) for a in jax.tree.leaves(g))
                    rows.append({"dtype": name, "m": m, "placement": placement, "divide": divide,
                                 "rel_error": rel_error(g, ref) if n_bad == 0 else None, "n_nonfinite": n_bad,
                                 "largest_sum": largest_sum})
    return rows


def safer_divide(rows):
    """The divide with fewer non-finite results over all cases; ties go to the smaller worst finite error."""
    def badness(divide):
        mine = [r for r in rows if r["divide"] == divide]
        return (sum(r["n_nonfinite"] > 0 for r in mine), max(r["rel_error"] or 0 for r in mine))
    return min(("before", "after"), key=badness)


def run(cfg, *, cache=None):
    devices = jax.devices()[: cfg.n_devices]
    prec = _common.part(cache, f"precision_{len(devices)}", lambda: precision(cfg, devices))
    rows = _common.part(cache, f"averaging_{len(devices)}", lambda: averaging(cfg, devices))
    return {"devices": [str(d) for d in devices], "averaging": rows, "precision": prec,
            "default_divide": safer_divide(prec)}


def figure(results):
    plt = _common.pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8))
    rows = [r for r in results["averaging"] if r["seed"] == results["averaging"][0]["seed"]]
    for data, color in (("sorted", "C3"), ("shuffled", "C0")):
        mine = [r for r in rows if r["data"] == data]
        x = [r["imbalance"] for r in mine]
        ax1.plot(x, [max(r["predicted_naive_error"], 1e-17) for r in mine], "-", color=color,
                 label=f"pmean of means, {data}: formula")
        ax1.plot(x, [max(r["naive_error"], 1e-17) for r in mine], "o", color=color, label=f"measured, {data}")
        ax1.plot(x, [max(r["exact_rel_error"], 1e-17) for r in mine], "s--", color=color, alpha=0.5,
                 label=f"jaxbp psum(sums)/psum(counts), {data}")
    ax1.set(yscale="log", xlabel="shard imbalance (0 = even)", ylabel="error vs one device",
            title=f"(a) averaging over {len(results['devices'])} devices, float64")
    ax1.legend(fontsize=7)
    styles = {("deferred", "before"): "o-", ("absorbed", "before"): "s-", ("deferred", "after"): "^--",
              ("absorbed", "after"): "v--"}
    inf_row = {("deferred", "after"): 3.0, ("absorbed", "after"): 10.0, ("deferred", "before"): 30.0,
               ("absorbed", "before"): 100.0}  # Inf/NaN results drawn as x on rows above 1, one per variant
    for dtype, color in (("float16", "C3"), ("bfloat16", "C2"), ("float32", "C0")):
        for (placement, divide), style in styles.items():
            mine = [r for r in results["precision"]
                    if (r["dtype"], r["placement"], r["divide"]) == (dtype, placement, divide)]
            if not mine:
                continue
            ax2.plot([r["m"] for r in mine], [r["rel_error"] if r["rel_error"] is not None else np.nan for r in mine],
                     style, color=color, ms=4, label=f"{dtype} {placement}, divide {divide}")
            bad = [r["m"] for r in mine if r["n_nonfinite"] > 0]
            ax2.plot(bad, [inf_row[placement, divide]] * len(bad), "x", color=color, ms=8)
    for (placement, divide), y in inf_row.items():
        ax2.text(0.01, y, f"Inf: {placement}, divide {divide}", fontsize=7, va="center",
                 transform=ax2.get_yaxis_transform())
    ax2.axhline(1.5, color="k", lw=0.5)
    ax2.set_ylim(top=300)
    ax2.set(xscale="log", yscale="log", xlabel="m (examples, over all devices)", ylabel="rel. error vs float64",
            title="(b) 1/m before or after the psum (x: Inf/NaN in the grads)")
    ax2.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    try:  # a standalone run gets cfg.n_devices CPU devices; in a process that already ran JAX this is set
        jax.config.update("jax_num_cpu_devices", cfg.n_devices)
    except RuntimeError:
        pass
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        results = run(cfg, cache=cache)
        rows = [{"table": "averaging", **r} for r in results["averaging"]] + \
               [{"table": "precision", **r} for r in results["precision"]]
        _common.write_outputs(cfg.out_dir, NAME, cfg, results, rows=rows, figures=[(f"{NAME}.png", figure(results))],
                              compute_seconds=cache.seconds)
    print(f"(a) averaging over {len(results['devices'])} devices (float64, seed {cfg.seeds[0]})")
    print(f"{'data':9} {'imbalance':>9} {'counts':>22} {'naive':>9} {'formula':>9} {'|diff-formula|':>14} {'jaxbp':>9}")
    for r in results["averaging"]:
        if r["seed"] == cfg.seeds[0]:
            print(f"{r['data']:9} {r['imbalance']:9.2f} {str(r['counts']):>22} {r['naive_error']:9.2e} "
                  f"{r['predicted_naive_error']:9.2e} {r['formula_rel_error']:14.1e} {r['exact_rel_error']:9.1e}")
    print("(b) rel. error vs float64 (inf = Inf/NaN in the grads)")
    print(f"{'dtype':9} {'m':>8} {'largest sum':>11} " + " ".join(f"{p[:3]}/{d:6}" for p in ("deferred", "absorbed")
                                                                   for d in ("before", "after")))
    prec = results["precision"]
    for i in range(0, len(prec), 4):
        cells = [f"{r['rel_error']:10.1e}" if r["rel_error"] is not None else f"{'inf':>10}" for r in prec[i:i + 4]]
        print(f"{prec[i]['dtype']:9} {prec[i]['m']:8d} {prec[i]['largest_sum']:11.2e} " + " ".join(cells))
    print(f"safer divide (fewest non-finite, then smallest worst error): {results['default_divide']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
