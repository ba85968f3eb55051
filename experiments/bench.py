"""Benchmark: is jaxbp's jitted training faster than NumPy and PyTorch here, and how close to the matmul limit?

Question  Per training step (relu hidden layers, sigmoid output, cross-entropy, float32, full
          batch, SGD), how fast is jaxbp.train with the hand-written backprop and with jax.grad,
          against a course-style NumPy loop (float32, float64) and PyTorch eager, and against
          this machine's own large-matmul GFLOP/s and the matmuls of the step alone?
Method    One process, one run. Every timed call is compiled and warmed up first; calls of all
          methods are interleaved repeat by repeat (so drifting load hits them alike) and the
          median is reported. FLOPs per step count the matmuls only: forward F = 2 m sum_l
          n_l n_{l-1}, backward 2F minus the dA[0] = W[1].T dZ[1] no method needs. The peak
          is the faster of XLA's and NumPy's 2048^3 matmul, measured in the same run; the
          "matmul floor" runs the step's own products (same shapes, same loop) without the
          elementwise work. Peak memory of the wide size comes from fresh subprocesses at two
          iteration counts (equal peaks: no per-iteration activations kept). The 64-seed sweep
          vmaps train over keys as one computation, against 64 sequential train calls.
Run       jaxbp bench [--quick] [--out DIR]     (results/bench/, --quick: results/quick/bench/)
          For NumPy at full speed where OPENBLAS_CORETYPE is set (see the README):
          env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE jaxbp bench
Expected  jaxbp >= 1.2x NumPy float32 and PyTorch at every size and >= 10x NumPy at planar;
          wide >= 85% of the matmul peak; backprop no slower than jax.grad; sweep >= 10x.
          Where one is missed, the floor and peak columns show what bounds it.
"""

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import model
from jaxbp.training import _run_jit, flops_per_step, train

from . import _common
from ._bench_parts import (
    LEARNING_RATE,
    environment,
    numpy_runner,
    peak_memory,
    torch_runner,
)

SIZES = {  # name: (layer_dims, m)
    "planar": ((2, 4, 1), 400),
    "cat": ((12288, 20, 7, 5, 1), 209),
    "wide": ((784, 1024, 1024, 1), 1024),
    "deep": ((64,) + (64,) * 12 + (1,), 512),
}
QUICK_SIZES = {"planar": ((2, 4, 1), 400), "cat": ((768, 20, 7, 5, 1), 209), "wide": ((64, 128, 128, 1), 128)}
NOISE = 0.97  # ratios within 3% of 1 count as equal: repeat-to-repeat spread of the medians here


@dataclasses.dataclass(frozen=True)
class Config:
    """Per-step speed of jaxbp.train against NumPy, PyTorch and jax.grad, and against this CPU's matmul peak."""

    repeats: int = 7  # timed calls per method (median reported)
    call_seconds: float = 0.25  # each timed call runs about this long
    pause: float = 0.2  # seconds of idle before each timed call
    seeds: int = 64  # the vmapped planar sweep
    sweep_iterations: int = 1000
    torch: bool = True  # include PyTorch eager when importable
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    BOUNDS = {"pause": (0.0, 10.0)}

    @classmethod
    def quick(cls):
        """Small sizes and few repeats: a smoke test (its timings mean nothing)."""
        return cls(mode="quick", repeats=2, call_seconds=0.02, pause=0.0, seeds=8, sweep_iterations=200)


def problem(dims, m, dtype=np.float32):
    rng = np.random.default_rng(0)
    X = rng.random((dims[0], m)).astype(dtype)  # like pixels / 255
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    params = model.init_params(jax.random.key(0), dims, dtype=jnp.float32)
    return [(np.asarray(p.W, dtype), np.asarray(p.b, dtype)) for p in params], X, Y


# ---- jaxbp and the bounds ----

def jaxbp_runner(params, X, Y, n, **kwargs):
    params = tuple(model.Layer(jnp.asarray(W), jnp.asarray(b)) for W, b in params)
    X, Y = jnp.asarray(X), jnp.asarray(Y)

    def run(_):
        jax.block_until_ready(train(params, X, Y, learning_rate=LEARNING_RATE, num_iterations=n, **kwargs))
    return run


def naive_runner(params, X, Y, n):
    """train's loop as it was before the speed changes: Ng's layout (the thread count is XLA's default, as for all)."""
    params = tuple(model.Layer(jnp.asarray(W), jnp.asarray(b)) for W, b in params)
    X, Y, hyper = jnp.asarray(X), jnp.asarray(Y), {"learning_rate": jnp.asarray(LEARNING_RATE)}
    static = dict(hidden="relu", output="sigmoid", optimizer="sgd", grads_from="backprop", placement="deferred",
                  start="dZL", num_iterations=n, batch_size=None, record_every=1, mesh=None, layout="columns")
    return lambda _: jax.block_until_ready(_run_jit(params, X, Y, None, hyper, **static))


@jax.jit(static_argnames="n")
def _matmul_floor(Ws, XT, n):
    """The step's matmuls alone, in train's row layout, n times (each depending on the last)."""
    def step(_, Ws):
        As, AT = [], XT
        for W in Ws:
            As.append(AT)
            AT = AT @ W.T  # (m, n_l)
        dZT, new = AT, [None] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            new[l] = Ws[l] - 1e-9 * (dZT.T @ As[l])  # dW
            if l > 0:
                dZT = dZT @ Ws[l]  # dA_prev, (m, n_{l-1})
        return tuple(new)
    return jax.lax.fori_loop(0, n, step, Ws)


def floor_runner(params, X, n):
    Ws, XT = tuple(jnp.asarray(W) for W, _ in params), jnp.asarray(X.T)
    return lambda _: jax.block_until_ready(_matmul_floor(Ws, XT, n))


def matmul_peak(size, repeats):
    """GFLOP/s of one large float32 matmul, XLA and NumPy (OpenBLAS), best of repeats."""
    rng = np.random.default_rng(1)
    A, B = rng.random((size, size), np.float32), rng.random((size, size), np.float32)
    dot = jax.jit(jnp.matmul)
    Aj, Bj = jnp.asarray(A), jnp.asarray(B)
    jax.block_until_ready(dot(Aj, Bj))
    A @ B
    out = {"size": size}
    for name, f in (("xla", lambda: jax.block_until_ready(dot(Aj, Bj))), ("numpy", lambda: A @ B)):
        out[name] = 2 * size**3 / min(timed(f) for _ in range(repeats)) / 1e9
    return out


def timed(f, *args):
    start = time.perf_counter()
    f(*args)
    return time.perf_counter() - start


def interleaved(runners, repeats, pause):
    """{name: list of seconds per step}; one warm-up call each, then repeats rounds of all.

    The pause before each call lets the previous library's idle threads stop spinning
    (OpenBLAS, OpenMP and XLA's pool each busy-wait for a while after their last task).
    """
    times = {name: [] for name in runners}
    for f, n in runners.values():
        f(n)
    for _ in range(repeats):
        for name, (f, n) in runners.items():
            time.sleep(pause)
            times[name].append(timed(f, n) / n)
    return times


def run_size(cfg, name, dims, m, peak):
    """Time every method on one size; returns one record per method."""
    params, X, Y = problem(dims, m)
    flops = flops_per_step(dims, m)
    n_jax = int(np.clip(cfg.call_seconds / max(flops / (0.8 * peak * 1e9), 4e-6), 2, 50_000))
    runners = {
        "jaxbp backprop": (jaxbp_runner(params, X, Y, n_jax), n_jax),
        "jaxbp jax.grad": (jaxbp_runner(params, X, Y, n_jax, grads_from="autodiff"), n_jax),
        "jaxbp before (Ng layout)": (naive_runner(params, X, Y, n_jax), n_jax),
        "XLA matmul floor": (floor_runner(params, X, n_jax), n_jax),
    }
    peers = {"NumPy float32": numpy_runner(params, X, Y, np.float32),
             "NumPy float64": numpy_runner(params, X, Y, np.float64)}
    if cfg.torch:
        try:
            peers["PyTorch eager"] = torch_runner(params, X, Y)
            peers["PyTorch eager, 1 thread"] = torch_runner(params, X, Y, threads=1)
        except ImportError:
            pass
    for peer, f in peers.items():  # calibrate the peer's steps per call
        f(2)
        n = int(np.clip(cfg.call_seconds / max(timed(f, 3) / 3, 1e-6), 1, 20_000))
        runners[peer] = (f, n)
    times = interleaved(runners, cfg.repeats, cfg.pause)
    ours = float(np.median(times["jaxbp backprop"]))
    records = []
    for method, ts in times.items():
        sec = float(np.median(ts))
        records.append(dict(size=name, layer_dims=list(dims), m=m, method=method, flops=flops, ms_per_step=1e3 * sec,
                            ms_min=1e3 * float(np.min(ts)), gflops=flops / sec / 1e9,
                            pct_of_peak=100 * flops / sec / 1e9 / peak, jaxbp_speedup=sec / ours,
                            steps_per_call=runners[method][1]))
    return records


def seed_sweep(cfg, dims, m):
    """cfg.seeds planar runs vmapped as one computation vs as many sequential train calls."""
    _, X, Y = problem(dims, m)
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    keys = jax.random.split(jax.random.key(1), cfg.seeds)
    kwargs = dict(learning_rate=1.2, num_iterations=cfg.sweep_iterations, record_every=100)

    def one_seed(key):  # returns the costs
        return train(model.init_params(key, dims), X, Y, **kwargs)[1]

    vmapped = jax.jit(jax.vmap(one_seed))

    def sequential():
        return np.stack([jax.block_until_ready(one_seed(key)) for key in keys])

    costs_vmapped, costs_sequential = np.asarray(vmapped(keys)), sequential()  # warm-up and compile
    params0 = model.init_params(keys[0], dims)
    train(params0, X, Y, learning_rate=1.2, num_iterations=1)
    t_vmapped = min(timed(lambda: jax.block_until_ready(vmapped(keys))) for _ in range(3))
    t_sequential = min(timed(sequential) for _ in range(2))
    t_call = min(timed(lambda: jax.block_until_ready(train(params0, X, Y, learning_rate=1.2, num_iterations=1)))
                 for _ in range(5))  # the fixed cost of one call: validation, dispatch, transfer
    steps = cfg.seeds * cfg.sweep_iterations
    return dict(seeds=cfg.seeds, iterations=cfg.sweep_iterations, vmapped_s=t_vmapped, sequential_s=t_sequential,
                speedup=t_sequential / t_vmapped, vmapped_us_per_seed_step=1e6 * t_vmapped / steps,
                sequential_us_per_seed_step=1e6 * t_sequential / steps, call_overhead_ms=1e3 * t_call,
                max_cost_difference=float(np.max(np.abs(costs_vmapped - costs_sequential))))


def run(cfg):
    """Every measurement; returns a dict (no printing, no files)."""
    sizes = QUICK_SIZES if cfg.mode == "quick" else SIZES
    peaks = matmul_peak(512 if cfg.mode == "quick" else 2048, 3 if cfg.mode == "quick" else 5)
    peak = max(peaks["xla"], peaks["numpy"])
    records = []
    for name, (dims, m) in sizes.items():
        records += run_size(cfg, name, dims, m, peak)
    wide_dims, wide_m = sizes["wide"]
    return dict(config=dataclasses.asdict(cfg), environment=environment(), matmul_peak_gflops=peaks,
                records=records, sweep=seed_sweep(cfg, *sizes["planar"]),
                memory=peak_memory(wide_dims, wide_m, (0, 4) if cfg.mode == "quick" else (0, 10, 40)))


def targets(result):
    """Each target of the speed issue: (what, measured, met)."""
    by = {(r["size"], r["method"]): r for r in result["records"]}
    sizes = sorted({r["size"] for r in result["records"]}, key=list(SIZES).index)
    rows = []
    for size in sizes:
        floor = by[(size, "XLA matmul floor")]["jaxbp_speedup"]
        for peer in ("NumPy float32", "PyTorch eager"):
            speedups = [r["jaxbp_speedup"] for (s, method), r in by.items() if s == size and method.startswith(peer)]
            if speedups:  # against the peer's faster thread setting
                x = min(speedups)
                bound = f"{x:.2f}x (step time / its matmuls alone: {1 / floor:.2f})"
                rows.append((f"{size}: jaxbp >= 1.2x {peer}", bound, x >= 1.2))
        x = by[(size, "jaxbp jax.grad")]["jaxbp_speedup"]
        rows.append((f"{size}: hand-written no slower than jax.grad", f"{x:.2f}x", x >= NOISE))
    x = by[("planar", "NumPy float32")]["jaxbp_speedup"]
    rows.append(("planar: jaxbp >= 10x NumPy float32", f"{x:.1f}x", x >= 10))
    wide, floor = by[("wide", "jaxbp backprop")], by[("wide", "XLA matmul floor")]
    peaks = result["matmul_peak_gflops"]
    rows.append(("wide: >= 85% of the matmul peak",
                 f"{wide['pct_of_peak']:.0f}% (bound: the step's matmuls alone in XLA reach "
                 f"{floor['pct_of_peak']:.0f}%; "
                 f"XLA's {peaks['size']}^3 matmul {peaks['xla']:.0f} vs NumPy's {peaks['numpy']:.0f} GFLOP/s)",
                 wide["pct_of_peak"] >= 85))
    s = result["sweep"]
    single = by[("planar", "jaxbp backprop")]["ms_per_step"] * 1e3
    rows.append((f"{s['seeds']}-seed planar sweep vmapped >= 10x sequential",
                 f"{s['speedup']:.1f}x (bound: vmapped {s['vmapped_us_per_seed_step']:.2f} us per seed-step vs "
                 f"{single:.2f} us for one seed's step alone)", s["speedup"] >= 10))
    return rows


def markdown(result):
    env, peaks = result["environment"], result["matmul_peak_gflops"]
    lines = [f"# jaxbp bench ({'quick' if result['config']['mode'] == 'quick' else 'full'})", "",
             "ms/step: median over interleaved repeats; GFLOP/s counts matmul FLOPs only; % of peak is of the "
             "faster large matmul below; the last column is how many times faster jaxbp backprop is than the row's "
             "method (below 1: the row is faster). XLA matmul floor: the step's products alone, same shapes and loop.",
             "",
             f"Machine: {env['processor']} ({' '.join(env['cpu_flags']) or 'no AVX flags found'}), "
             f"{env['cpu_count']} cores, backend {env['backend']}; jax {env['jax']}, "
             f"numpy {env['numpy']} ({env.get('numpy_blas')}), torch {env.get('torch')}; float32.", "",
             f"Large-matmul peak in this run ({peaks['size']}^3 float32): XLA {peaks['xla']:.0f} GFLOP/s, "
             f"NumPy {peaks['numpy']:.0f} GFLOP/s.", "",
             "| size | method | ms/step | min ms/step | GFLOP/s | % of peak | jaxbp backprop's speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in result["records"]:
        d = r["layer_dims"]
        dims = d if len(d) <= 6 else f"[{d[0]}, {d[1]} x {len(d) - 2}, {d[-1]}]"
        lines.append(f"| {r['size']} {dims} m={r['m']} | {r['method']} | {r['ms_per_step']:.4g} | {r['ms_min']:.4g} | "
                     f"{r['gflops']:.3g} | {r['pct_of_peak']:.1f} | {r['jaxbp_speedup']:.2f}x |")
    s, mem = result["sweep"], result["memory"]
    lines += ["", f"Seed sweep ({s['seeds']} planar seeds x {s['iterations']} iterations): vmapped "
              f"{s['vmapped_s']:.3f} s, sequential {s['sequential_s']:.3f} s, {s['speedup']:.1f}x. Per seed and "
              f"step: vmapped {s['vmapped_us_per_seed_step']:.2f} us, sequential "
              f"{s['sequential_us_per_seed_step']:.2f} us, of which {s['call_overhead_ms']:.2f} ms per call is fixed "
              "cost (validation, dispatch). The float32 costs of the two agree to "
              f"{s['max_cost_difference']:.1e} (the batched kernels sum in another order; in float64 the tests "
              "find them equal to 1e-12).", "",
              "Peak resident memory, wide size, fresh process: " + ", ".join(
                  f"{n} iterations {v['peak_mib']:.0f} MiB" for n, v in mem["runs"].items())
              + f" (arrays live in one step: {mem['live_arrays_mib']:.0f} MiB).", "",
              "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {what} | {value} | {'yes' if ok else 'NO'} |" for what, value, ok in targets(result)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    cfg = _common.parse_config(Config, argv, "bench", prog="jaxbp bench", needs=())
    result = run(cfg)
    text = markdown(result)
    print(text)
    _common.write_outputs(cfg.out_dir, "bench", cfg, result, rows=result["records"], files=[("bench.md", text)])
    print(f"wrote {cfg.out_dir}/bench.md, results.json and results.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
