"""experiments/bench.py: the peers compute what jaxbp computes, and the quick run's table is consistent.

No timing is asserted (the machine is shared). What is: every row's FLOP count is the formula,
its GFLOP/s, % of peak and speed-up are the ratios of its own timings, the printed table shows
the same numbers (so its ratio column is the ratio of its printed timings), and the machine line
names this CPU and its vector extensions.
"""

import csv
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _bench_parts, bench
from jaxbp import model
from jaxbp.training import train


def test_flops_per_step_worked_by_hand():
    # planar [2, 4, 1], m = 400: F = 2 * 400 * (4*2 + 1*4) = 9600; backward 2F less dA0 = 2*400*4*2 = 6400
    assert bench.flops_per_step((2, 4, 1), 400) == 3 * 9600 - 6400


def test_numpy_peer_step_equals_train_step_in_float64(key):
    dims, m = (5, 4, 3, 1), 30
    params = model.init_params(key, dims, dtype=jnp.float64)
    X = np.asarray(jax.random.normal(key, (dims[0], m), jnp.float64))
    Y = (np.arange(m)[None, :] % 2).astype(np.float64)
    parameters = {}
    for l, layer in enumerate(params, start=1):
        parameters[f"W{l}"], parameters[f"b{l}"] = np.asarray(layer.W), np.asarray(layer.b)
    learning_rate = _bench_parts.LEARNING_RATE
    cost = _bench_parts.numpy_step(parameters, X, Y, learning_rate)
    want, costs = train(params, jnp.asarray(X), jnp.asarray(Y), learning_rate=learning_rate, num_iterations=1)
    np.testing.assert_allclose(cost, costs[0], rtol=1e-12)
    for l, layer in enumerate(want, start=1):
        np.testing.assert_allclose(parameters[f"W{l}"], layer.W, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(parameters[f"b{l}"], layer.b, rtol=1e-12, atol=1e-15)


def test_cpu_reads_model_and_vector_extensions(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n"
                    "processor\t: 1\nmodel name\t: Some CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n")
    assert _bench_parts.cpu(info) == ("Some CPU 9000", ["sse4_2", "avx", "avx2", "fma", "avx512f"])
    name, flags = _bench_parts.cpu(tmp_path / "absent")
    assert name and flags == []


def test_bench_quick_rows_are_consistent_and_the_table_prints_them(tmp_path):
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["metadata"]["config"]["mode"] == "quick"
    result = record["results"]
    methods = {r["method"] for r in result["records"]}
    assert {"jaxbp backprop", "jaxbp jax.grad", "jaxbp before (Ng layout)", "XLA matmul floor", "NumPy float32",
            "NumPy float64"} <= methods
    assert {r["size"] for r in result["records"]} == set(bench.QUICK_SIZES)
    peaks = result["matmul_peak_gflops"]
    peak = max(peaks["xla"], peaks["numpy"])
    ours = {r["size"]: r["ms_per_step"] for r in result["records"] if r["method"] == "jaxbp backprop"}
    for r in result["records"]:
        dims, m = bench.QUICK_SIZES[r["size"]]
        assert r["layer_dims"] == list(dims) and r["m"] == m
        forward = 2 * m * sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))
        assert r["flops"] == 3 * forward - 2 * m * dims[0] * dims[1]  # backward 2F less the unneeded dA[0]
        assert r["gflops"] == pytest.approx(r["flops"] / (r["ms_per_step"] / 1e3) / 1e9, rel=1e-12)
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops"] / peak, rel=1e-12)
        assert r["jaxbp_speedup"] == pytest.approx(r["ms_per_step"] / ours[r["size"]], rel=1e-12)
        assert r["ms_min"] <= r["ms_per_step"]  # least <= median
    assert result["sweep"]["max_cost_difference"] < 1e-5  # the vmapped seeds are the sequential runs
    table = (tmp_path / "bench.md").read_text()
    rows = re.findall(r"^\| (\w+) .*? m=\d+ \| ([^|]+) \| ([\d.e+-]+) \| ([\d.e+-]+) \| ([\d.e+-]+) \| ([\d.]+) \| "
                      r"([\d.]+)x \|$", table, flags=re.M)
    assert len(rows) == len(result["records"])
    printed = {(size, method.strip()): float(ms) for size, method, ms, *_ in rows}
    for size, _, ms, *_, speedup in rows:  # the speed-up column is the ratio of the printed ms/step
        assert float(speedup) == pytest.approx(float(ms) / printed[(size, "jaxbp backprop")], abs=0.006, rel=2e-3)
    name, flags = _bench_parts.cpu()
    assert f"Machine: {name} ({' '.join(flags) or 'no AVX flags found'})" in table
    assert f"XLA {peaks['xla']:.0f} GFLOP/s, NumPy {peaks['numpy']:.0f} GFLOP/s" in table
    assert "| target | measured | met |" in table and "wide: >= 85% of the matmul peak" in table
    with open(tmp_path / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(result["records"])
    runs = result["memory"]["runs"]
    assert set(runs) == {"0", "4"} and all(v["peak_mib"] >= v["before_mib"] > 0 for v in runs.values())
