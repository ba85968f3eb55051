"""Why ReLU over sigmoid, and tanh over sigmoid, in hidden layers; and why sigmoid stays at the output.

Question
    (a) Do gradients vanish with depth for sigmoid and tanh but not relu? (b) Does that show in
    training on real data? (c) Is relu also cheaper to compute, and does that matter? (d) Why is
    the output unit of a binary classifier still a sigmoid?
Method
    (a) At initialisation, per-layer ||dW[l]|| (Frobenius) of a width-32 net, depths 2 ... 30, on
    X ~ N(0, 1) (32, 256), Y ~ Bernoulli(1/2), sigmoid output, for sigmoid, tanh, relu and leaky relu
    hidden layers, each with its matching init (He for relu/leaky relu, Xavier for sigmoid/tanh) and
    with one common init (He for all); median over the seeds, all seeds one vmapped computation.
    (b) Full-batch gradient descent from the matching init on digits (softmax output), breast cancer,
    the planar flower and moons (sigmoid output): cost and accuracy per iteration, mean and min-max
    over the seeds, each (data set, activation) one lax.scan vmapped over seeds.
    (c) Least wall time (over repeats) of one jitted forward+backward step per hidden activation at a compute-bound
    size (width 512, m 512: matmuls dominate) and a memory-bound one (width 16, m 2^16), against the
    identity; the activation's share is (t - t_identity) / t.
    (d) |dL/dZ[L]| of one output unit with y = 1 over z = Z[L]: sigmoid + cross-entropy (= |a - y|)
    against sigmoid + squared error (= |a - y| a (1 - a)).
Run
    jaxbp experiment activations            (full: 10 seeds, 2000 iterations)
    jaxbp experiment activations --quick
Expected
    (a) sigmoid's ||dW[1]|| at depth 20 orders of magnitude below relu's (g' <= 1/4); tanh in between
    or close to relu; (b) sigmoid trains slowest; (c) the activation is a small share where matmuls
    dominate; (d) cross-entropy keeps the gradient ~1 when confidently wrong, squared error kills it.
    Refuted if sigmoid's first-layer gradient stayed within 10x of relu's at depth 20.
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import activations, backprop, costs, datasets, model

from . import _common

NAME = "activations"
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu")
MATCHING = {"sigmoid": "xavier", "tanh": "xavier", "relu": "he", "leaky_relu": "he"}
COMMON = "he"
COLORS = {"sigmoid": "tab:red", "tanh": "tab:orange", "relu": "tab:blue", "leaky_relu": "tab:green", "identity": "gray"}


@dataclasses.dataclass(frozen=True)
class Config:
    """Vanishing gradients, training curves, step time and the output unit, per hidden activation."""

    depths: tuple = (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
    width: int = 32
    datasets: tuple = ("digits", "breast_cancer", "flower", "moons")
    hidden_dims: tuple = (16, 16, 16)
    learning_rate: float = 0.1
    num_iterations: int = 2000
    seeds: int = 10
    timing_sizes: tuple = (512, 512, 16, 65536)  # (width, m) pairs: compute-bound, memory-bound
    timing_depth: int = 3
    timing_repeats: int = 20
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    CHOICES = {"datasets": ("digits", "breast_cancer", "flower", "moons")}

    def __post_init__(self):
        if len(self.timing_sizes) % 2:
            raise ValueError(f"argument --timing-sizes: needs (width, m) pairs, got {len(self.timing_sizes)} numbers")

    @classmethod
    def quick(cls):
        return cls(mode="quick", depths=(2, 10, 20), datasets=("moons",), num_iterations=300, seeds=3,
                   timing_sizes=(128, 256), timing_repeats=3)


def grad_norms_at_init(keys, X, Y, *, layer_dims, hidden, method):
    """||dW[l]|| for l = 1..L at initialisation, one row per key: (seeds, L).

    Deliberately not jitted: run op by op (vmapped over the keys), every depth reuses the same few
    compiled (32, 32) kernels, where a jit per depth would compile 15 unrolled graphs per activation.
    """
    def one(key):
        params = model.init_params(key, layer_dims, method=method, dtype=X.dtype)
        AL, caches = model._forward(params, X, hidden, "sigmoid")
        grads = backprop.backward(params, caches, AL, Y, hidden=hidden, output="sigmoid")
        return jnp.stack([jnp.linalg.norm(g.W) for g in grads])
    return jax.vmap(one)(keys)


@functools.partial(jax.jit, static_argnames=("layer_dims", "hidden", "output", "num_iterations"))
def train_seeds(keys, X, Y, learning_rate, *, layer_dims, hidden, output, num_iterations):
    """Full-batch GD from the matching init for every key at once: costs, accuracies (seeds, T)."""
    def one(key):
        params = model.init_params(key, layer_dims, method=MATCHING[hidden], dtype=X.dtype)
        _, c, a = _common.gd(params, X, Y, hidden=hidden, output=output, learning_rate=learning_rate,
                             num_iterations=num_iterations)
        return c, a
    return jax.vmap(one)(keys)


@functools.partial(jax.jit, static_argnames=("hidden",))
def step_grads(params, X, Y, *, hidden):
    """One forward + backward pass (the unit of training time): jaxbp's hand-written backprop, deferred 1/m."""
    return _common.library_grads(params, X, Y, hidden=hidden, output="sigmoid")[1]


def load(key, name):
    """(X, Y, output) of a data set, float32."""
    if name == "digits":
        return (*datasets.digits(dtype=jnp.float32), "softmax")
    if name == "breast_cancer":
        return (*datasets.breast_cancer(dtype=jnp.float32), "sigmoid")
    if name == "flower":
        return (*datasets.flower(key, 400, dtype=jnp.float32), "sigmoid")
    return (*datasets.moons(key, 400, noise=0.2, dtype=jnp.float32), "sigmoid")


def vanishing(cfg, cache):
    keys = jax.random.split(jax.random.key(0), cfg.seeds)
    k_x, k_y = jax.random.split(jax.random.key(1))
    X = jax.random.normal(k_x, (cfg.width, 256), jnp.float32)
    Y = jax.random.bernoulli(k_y, 0.5, (1, 256)).astype(jnp.float32)
    out = {}
    cells = [(h, init, d) for h in HIDDEN for init in ("matching", "common") for d in cfg.depths]
    for hidden, init, depth in _common.progress(cells, NAME + " (a)"):
        method = MATCHING[hidden] if init == "matching" else COMMON
        out[f"{hidden}|{init}|{depth}"] = _common.part(cache, f"norms_{hidden}_{init}_{depth}", lambda d=depth, h=hidden, mt=method: np.median(
            np.asarray(grad_norms_at_init(keys, X, Y, layer_dims=(cfg.width,) * d + (1,), hidden=h, method=mt)), axis=0))
    return out


def training(cfg, cache):
    keys = jax.random.split(jax.random.key(2), cfg.seeds)
    out = {}
    for name, hidden in _common.progress([(n, h) for n in cfg.datasets for h in HIDDEN], NAME + " (b)"):
        def compute(name=name, hidden=hidden):
            X, Y, output = load(jax.random.key(3), name)
            c, a = train_seeds(keys, X, Y, jnp.float32(cfg.learning_rate), layer_dims=(X.shape[0], *cfg.hidden_dims,
                               Y.shape[0]), hidden=hidden, output=output, num_iterations=cfg.num_iterations)
            c, a = np.asarray(c, np.float64), np.asarray(a, np.float64)
            return {"cost_mean": c.mean(0), "cost_min": c.min(0), "cost_max": c.max(0), "acc_mean": a.mean(0),
                    "acc_min": a.min(0), "acc_max": a.max(0), "final_cost": c[:, -1], "final_acc": a[:, -1]}
        out[f"{name}|{hidden}"] = _common.part(cache, f"train_{name}_{hidden}", compute)
    return out


def timing(cfg):
    out = {}
    sizes = list(zip(cfg.timing_sizes[0::2], cfg.timing_sizes[1::2], strict=True))
    for (width, m), hidden in _common.progress([(s, h) for s in sizes for h in ("identity", *HIDDEN)], NAME + " (c)"):
        k_p, k_x = jax.random.split(jax.random.key(4))
        params = model.init_params(k_p, (width,) * cfg.timing_depth + (1,), method="he", dtype=jnp.float32)
        X = jax.random.normal(k_x, (width, m), jnp.float32)
        Y = (X[:1] > 0).astype(jnp.float32)
        t = _common.time_compiled(functools.partial(step_grads, hidden=hidden), params, X, Y, repeats=cfg.timing_repeats)
        out[f"{width}x{m}|{hidden}"] = t
    for width, m in sizes:
        base = out[f"{width}x{m}|identity"]
        for h in HIDDEN:
            out[f"{width}x{m}|{h}|share"] = (out[f"{width}x{m}|{h}"] - base) / out[f"{width}x{m}|{h}"]
    return out


def output_unit():
    z = np.linspace(-12, 12, 241)
    Z = jnp.asarray(z)[None, :]
    Y = jnp.ones_like(Z)
    bce = jax.grad(lambda Z: jnp.sum(costs.loss_from_logits(Z, Y, output="sigmoid")))(Z)
    mse = jax.grad(lambda Z: jnp.sum(0.5 * (activations.sigmoid(Z) - Y) ** 2))(Z)
    return {"z": z, "bce": np.abs(np.asarray(bce[0])), "mse": np.abs(np.asarray(mse[0]))}


def run(cfg, *, cache=None):
    out = {"vanishing": vanishing(cfg, cache), "training": training(cfg, cache), "output": output_unit()}
    out["timing"] = _common.part(cache, "timing", lambda: timing(cfg))  # timings are stored: a rerun reuses them
    out["summary"] = summarize(out, cfg)
    return out


def summarize(out, cfg):
    s = {}
    d20 = 20 if 20 in cfg.depths else max(cfg.depths)
    s["depth"] = d20
    for h in HIDDEN:
        for init in ("matching", "common"):
            s[f"dW1_depth{d20}|{h}|{init}"] = out["vanishing"][f"{h}|{init}|{d20}"][0]
            s[f"dW1_over_dWL_depth{d20}|{h}|{init}"] = (out["vanishing"][f"{h}|{init}|{d20}"][0]
                                                        / out["vanishing"][f"{h}|{init}|{d20}"][-1])
    s["max_depth"], s["width"] = max(cfg.depths), cfg.width
    for h in HIDDEN:  # layers whose float32 gradient underflowed to exactly 0 at the largest depth
        s[f"zero_layers_max_depth|{h}"] = int(sum(v == 0 for v in out["vanishing"][f"{h}|matching|{max(cfg.depths)}"]))
    for name in cfg.datasets:
        for h in HIDDEN:
            t = out["training"][f"{name}|{h}"]
            s[f"final_cost|{name}|{h}"] = float(np.mean(t["final_cost"]))
            s[f"final_acc|{name}|{h}"] = float(np.mean(t["final_acc"]))
    sizes = list(zip(cfg.timing_sizes[0::2], cfg.timing_sizes[1::2], strict=True))
    s["timing_sizes"] = [f"{w}x{m}" for w, m in sizes]
    for key, v in out["timing"].items():
        s[f"time|{key}"] = v
    o = out["output"]
    i = int(np.argmin(np.abs(np.asarray(o["z"]) + 10)))
    s["output_grad_at_z-10|bce"], s["output_grad_at_z-10|mse"] = o["bce"][i], o["mse"][i]
    return s


def figures(out, cfg):
    plt = _common.pyplot()
    figs = []
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for h in HIDDEN:
        for init, ls in (("matching", "-"), ("common", "--")):
            y = [out["vanishing"][f"{h}|{init}|{d}"][0] for d in cfg.depths]
            axes[0].plot(cfg.depths, y, ls, marker="o", ms=3, color=COLORS[h], lw=3.5 if h == "relu" else 1.5,
                         label=f"{h}, {init} init")
        d = max(cfg.depths)
        prof = out["vanishing"][f"{h}|matching|{d}"]
        axes[1].plot(range(1, len(prof) + 1), prof, marker="o", ms=3, color=COLORS[h], lw=3.5 if h == "relu" else 1.5,
                     label=h)
    axes[0].set(yscale="log", xlabel="depth L", ylabel="||dW[1]|| at init (median over seeds)",
                title=f"first layer's gradient vs depth\n(dashed: {COMMON} init for all; relu (thick) = He either way)")
    axes[0].legend(fontsize=7)
    axes[1].set(yscale="log", xlabel="layer l", ylabel="||dW[l]||", title=f"per layer, depth {max(cfg.depths)}, matching init")
    axes[1].legend(fontsize=8)
    o = out["output"]
    axes[2].plot(o["z"], o["bce"], label="sigmoid + cross-entropy: |a - y|")
    axes[2].plot(o["z"], o["mse"], label="sigmoid + squared error: |a - y| a (1 - a)")
    axes[2].set(yscale="log", xlabel="z = Z[L] (label y = 1; z < 0 is wrong)", ylabel="|dL/dZ[L]|",
                title="(d) the output unit's gradient")
    axes[2].legend(fontsize=8)
    figs.append(("vanishing_gradients.png", fig))
    fig, axes = plt.subplots(2, len(cfg.datasets), figsize=(4.2 * len(cfg.datasets), 7), squeeze=False)
    for j, name in enumerate(cfg.datasets):
        for h in HIDDEN:
            t = out["training"][f"{name}|{h}"]
            it = np.arange(len(t["cost_mean"]))
            for i, k in enumerate(("cost", "acc")):
                axes[i][j].plot(it, t[f"{k}_mean"], color=COLORS[h], lw=3.5 if h == "relu" else 1.5, label=h)
                axes[i][j].fill_between(it, t[f"{k}_min"], t[f"{k}_max"], color=COLORS[h], alpha=0.2)
        axes[0][j].set(yscale="log", title=f"{name}", ylabel="cost J" if j == 0 else None)
        axes[1][j].set(xlabel="iteration", ylabel="training accuracy" if j == 0 else None)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"full-batch GD, learning rate {cfg.learning_rate}, hidden {cfg.hidden_dims}: mean and min-max over "
                 f"{cfg.seeds} seeds")
    figs.append(("training_curves.png", fig))
    return figs


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        out = run(cfg, cache=cache)
        s = out["summary"]
        rows = [{"hidden": h, f"dW1 depth {s['depth']}": s[f"dW1_depth{s['depth']}|{h}|matching"],
                 f"dW1 depth {s['depth']} ({COMMON})": s[f"dW1_depth{s['depth']}|{h}|common"],
                 **{f"cost {n}": s[f"final_cost|{n}|{h}"] for n in cfg.datasets},
                 **{f"ms {size}": 1e3 * s[f"time|{size}|{h}"] for size in s["timing_sizes"]}} for h in HIDDEN]
        _common.print_table(rows, list(rows[0]))
        _common.write_outputs(cfg.out_dir, NAME, cfg, out, rows=rows, figures=figures(out, cfg),
                              compute_seconds=cache.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
