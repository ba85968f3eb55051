"""experiments/bench.py: the peers compute what jaxbp computes, and the quick run writes its table.

No timing is asserted (the machine is shared); the smoke run checks that every method,
ratio and target is reported and that the files land in the results folder.
"""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np

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


def test_bench_quick_writes_every_method_ratio_and_target(tmp_path):
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    methods = {r["method"] for r in result["records"]}
    assert {"jaxbp backprop", "jaxbp jax.grad", "XLA matmul floor", "NumPy float32", "NumPy float64"} <= methods
    assert {r["size"] for r in result["records"]} == set(bench.SIZES)
    for r in result["records"]:
        assert r["ms_per_step"] > 0 and r["gflops"] > 0 and r["jaxbp_speedup"] > 0
    assert result["sweep"]["max_cost_difference"] < 1e-5  # the vmapped seeds are the sequential runs
    peaks = [run["peak_mib"] for run in result["memory"]["runs"].values()]
    assert max(peaks) > 0
    table = (tmp_path / "bench.md").read_text()
    assert "| target | measured | met |" in table and "wide: >= 85% of the matmul peak" in table
    with open(tmp_path / "bench.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(result["records"])
