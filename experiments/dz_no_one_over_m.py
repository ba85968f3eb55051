"""Why does dZ carry no 1/m? What a deferred and an absorbed dZ[l] are, and what "1/m twice" does to training.

Question
    Ng writes dZ[L] = AL - Y with no 1/m, and puts the 1/m into dW = (1/m) dZ A_prev.T and db. Is
    dZ[l] then "the gradient"? Claim: a deferred dZ[l] is the per-example dL/dZ[l] (column i is
    example i's own gradient), an absorbed dZ[l] = (AL - Y)/m ... is dJ/dZ[l]; so writing the 1/m in
    both places (absorbed dZ[L] and Ng's dW = (1/m) ...) divides every gradient by m once too often.
Method
    (a) For every layer l, autodiff with respect to Z[l] itself: jax.grad of the cost written as a
    function of Z[l] (the forward pass from layer l on), with J = sum of L(i) (its gradient is the
    per-example dL/dZ[l], as column i of Z[l] only reaches L(i)) and with J = mean. Compared with
    jaxbp.backward(..., intermediates=True) dZ[l] for placement="deferred" and "absorbed", by Ng's
    relative error, in float64 and float32, on breast cancer with a relu/sigmoid net.
    (b) Train the same net by full-batch gradient descent (one lax.scan, vmapped over seeds) with
    the correct deferred grads, with "1/m twice" (dZ[L] = (AL - Y)/m and dW = (1/m) dZ A_prev.T),
    and with "1/m twice" at learning rate x m.
Run
    jaxbp experiment dz_no_one_over_m            (full: 10 seeds, 2000 iterations)
    jaxbp experiment dz_no_one_over_m --quick
Expected
    (a) errors at float64 round-off (~1e-15) for deferred vs sum and absorbed vs mean, and deferred /
    absorbed = m exactly; refuted if deferred dZ matched the mean's gradient. (b) "1/m twice" barely
    moves the cost (its step is m = 569 times too small); at learning rate x m it retraces the correct
    curve to round-off.
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import activations, backprop, costs, datasets, model
from jaxbp.checking.compare import rel_error

from . import _common

NAME = "dz_no_one_over_m"
HIDDEN, OUTPUT = "relu", "sigmoid"
VARIANTS = ("deferred (Ng)", "1/m twice", "1/m twice, lr x m")


@dataclasses.dataclass(frozen=True)
class Config:
    """dZ[l] against autodiff w.r.t. Z[l]; training with the 1/m applied twice."""

    hidden_dims: tuple = (16, 8)
    dtypes: tuple = ("float64", "float32")
    seeds: int = 10
    num_iterations: int = 2000
    learning_rate: float = 0.1
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""

    @classmethod
    def quick(cls):
        return cls(mode="quick", seeds=3, num_iterations=200)


def tail_cost(Z, params, Y, l, reduction):
    """J written as a function of Z[l]: A[l] = g(Z[l]), then the forward pass of layers l+1..L."""
    L = len(params)
    A = activations.g(OUTPUT if l == L else HIDDEN)(Z)
    for k in range(l + 1, L + 1):
        Z = params[k - 1].W @ A + params[k - 1].b  # (n_k, m)
        A = activations.g(OUTPUT if k == L else HIDDEN)(Z)
    return costs.reduce(costs.loss_from_logits(Z, Y, output=OUTPUT), reduction=reduction)


@jax.jit
def dZ_and_autodiff(params, X, Y):
    """Per layer: deferred dZ[l], absorbed dZ[l], and jax.grad w.r.t. Z[l] itself of J = sum L(i) and of J = mean."""
    AL, caches = model._forward(params, X, HIDDEN, OUTPUT)
    _, deferred = backprop.backward(params, caches, AL, Y, hidden=HIDDEN, output=OUTPUT, placement="deferred",
                                    intermediates=True)
    _, absorbed = backprop.backward(params, caches, AL, Y, hidden=HIDDEN, output=OUTPUT, placement="absorbed",
                                    intermediates=True)
    return [(deferred[l - 1].dZ, absorbed[l - 1].dZ,
             jax.grad(tail_cost)(cache.Z, params, Y, l, "sum"),  # per-example dL(i)/dZ[l], (n_l, m)
             jax.grad(tail_cost)(cache.Z, params, Y, l, "mean"))  # dJ/dZ[l]
            for l, cache in enumerate(caches, start=1)]


def compare(params, X, Y):
    """Per layer: rel. error of deferred dZ vs d(sum L)/dZ, absorbed dZ vs dJ/dZ, and deferred/absorbed."""
    out = []
    for l, (dZ_def, dZ_abs, d_sum, d_mean) in enumerate(jax.device_get(dZ_and_autodiff(params, X, Y)), start=1):
        size = lambda a: np.sum(np.abs(np.asarray(a, np.float64)))  # noqa: E731
        out.append({"layer": l, "deferred_vs_per_example": rel_error(dZ_def, d_sum),
                    "absorbed_vs_dJdZ": rel_error(dZ_abs, d_mean), "deferred_vs_dJdZ": rel_error(dZ_def, d_mean),
                    "ratio_deferred_over_absorbed": size(dZ_def) / size(dZ_abs)})
    return out


def one_over_m_twice(params, X, Y):
    """(J, grads) of the bug: dZ[L] = (AL - Y)/m (absorbed) and then dW = (1/m) dZ A_prev.T again (deferred)."""
    AL, caches = model._forward(params, X, HIDDEN, OUTPUT)
    m = X.shape[1]
    dZL = backprop.output_dZL(AL, Y, caches, output=OUTPUT, start="dZL", placement="absorbed", m=m)
    grads = backprop.backward_from(dZL, params, caches, hidden=HIDDEN, placement="deferred", m=m)
    return costs.reduce(costs.loss_from_logits(caches[-1].Z, Y, output=OUTPUT), reduction="mean"), grads


@functools.partial(jax.jit, static_argnames=("layer_dims", "twice", "num_iterations"))
def train_seeds(keys, X, Y, learning_rate, *, layer_dims, twice, num_iterations):
    """Full-batch gradient descent from He init for every key at once: costs, accuracies (seeds, T)."""
    def one(key):
        params = model.init_params(key, layer_dims, method="he", dtype=X.dtype)
        # the correct run uses the library's gradient (the gd default); the bug needs its own
        _, costs_t, acc_t = _common.gd(params, X, Y, hidden=HIDDEN, output=OUTPUT, learning_rate=learning_rate,
                                       num_iterations=num_iterations, grads_fn=one_over_m_twice if twice else None)
        return costs_t, acc_t
    return jax.vmap(one)(keys)


def run(cfg, *, cache=None):
    X64, Y64 = datasets.breast_cancer(dtype=jnp.float64)
    layer_dims = (X64.shape[0], *cfg.hidden_dims, 1)
    m = X64.shape[1]
    out = {"m": m, "layer_dims": layer_dims, "autodiff": {}, "training": {}}
    for dtype in _common.progress(cfg.dtypes, NAME + " (a)"):
        def compute(dtype=dtype):
            dt = _common.DTYPES[dtype]
            params = model.init_params(jax.random.key(0), layer_dims, method="he", dtype=dt)
            return compare(params, X64.astype(dt), Y64.astype(dt))
        out["autodiff"][dtype] = _common.part(cache, f"autodiff_{dtype}", compute)
    keys = jax.random.split(jax.random.key(1), cfg.seeds)
    X, Y = X64.astype(jnp.float32), Y64.astype(jnp.float32)
    for variant in _common.progress(VARIANTS, NAME + " (b)"):
        def compute(variant=variant):
            lr = cfg.learning_rate * (m if variant.endswith("lr x m") else 1)
            c, a = train_seeds(keys, X, Y, jnp.float32(lr), layer_dims=layer_dims, twice=variant != VARIANTS[0],
                               num_iterations=cfg.num_iterations)
            return {"costs": c, "accuracies": a}
        out["training"][variant] = _common.part(cache, f"train_{variant.replace('/', '').replace(' ', '_')}", compute)
    out["summary"] = summarize(out)
    return out


def summarize(out):
    s = {"m": out["m"]}
    for dtype, layers in out["autodiff"].items():
        s[f"{dtype}_max_err_deferred_vs_per_example"] = max(r["deferred_vs_per_example"] for r in layers)
        s[f"{dtype}_max_err_absorbed_vs_dJdZ"] = max(r["absorbed_vs_dJdZ"] for r in layers)
        s[f"{dtype}_min_err_deferred_vs_dJdZ"] = min(r["deferred_vs_dJdZ"] for r in layers)
        s[f"{dtype}_ratio"] = [r["ratio_deferred_over_absorbed"] for r in layers]
    for v, t in out["training"].items():
        c = np.asarray(t["costs"])
        s[f"final_cost_mean|{v}"], s[f"final_cost_std|{v}"] = float(c[:, -1].mean()), float(c[:, -1].std())
        s[f"initial_cost_mean|{v}"] = float(c[:, 0].mean())
        s[f"final_accuracy_mean|{v}"] = float(np.asarray(t["accuracies"])[:, -1].mean())
    a, b = np.asarray(out["training"][VARIANTS[0]]["costs"]), np.asarray(out["training"][VARIANTS[2]]["costs"])
    s["max_abs_diff_correct_vs_twice_lr_x_m"] = float(np.max(np.abs(a - b)))
    return s


def figures(out, cfg):
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for v, ls in zip(VARIANTS, ("-", "-", ":"), strict=True):
        for ax, key in zip(axes, ("costs", "accuracies"), strict=True):
            y = np.asarray(out["training"][v][key])
            it = np.arange(y.shape[1])
            line, = ax.plot(it, y.mean(0), ls, lw=2, label=v)
            ax.fill_between(it, y.min(0), y.max(0), color=line.get_color(), alpha=0.2)
    axes[0].set(xlabel="iteration", ylabel="cost J (mean over m)", yscale="log",
                title=f"breast cancer, m = {out['m']}: mean and min-max over {cfg.seeds} seeds")
    axes[1].set(xlabel="iteration", ylabel="training accuracy", title="accuracy")
    axes[0].legend()
    return [("one_over_m_twice.png", fig)]


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        out = run(cfg, cache=cache)
        rows = [{"dtype": d, **r} for d, layers in out["autodiff"].items() for r in layers]
        _common.print_table(rows, ["dtype", "layer", "deferred_vs_per_example", "absorbed_vs_dJdZ", "deferred_vs_dJdZ",
                                   "ratio_deferred_over_absorbed"])
        _common.print_table([{"variant": v, "final cost": out["summary"][f"final_cost_mean|{v}"],
                              "accuracy": out["summary"][f"final_accuracy_mean|{v}"]} for v in VARIANTS],
                            ["variant", "final cost", "accuracy"])
        _common.write_outputs(cfg.out_dir, NAME, cfg, out, rows=rows, figures=figures(out, cfg),
                              compute_seconds=cache.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
