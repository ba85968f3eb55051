"""Every experiment in --quick mode, and the claims the report makes from its results.

One session-scoped run writes all quick results (and the report) into a temporary folder; each
test then checks one qualitative claim against the numbers, so the report cannot go stale.
Thresholds are stated per claim with the measured quick-mode value in a comment.
"""

import functools
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _common, activations, dal_vs_dzl, dz_no_one_over_m, placement, report, why_average

MODULES = {"why_average": why_average, "activations": activations, "placement": placement,
           "dz_no_one_over_m": dz_no_one_over_m, "dal_vs_dzl": dal_vs_dzl}


@pytest.fixture(scope="session")
def quick(tmp_path_factory):
    """Run every experiment's main(["--quick", "--out", DIR]) once, then the report over the same folder."""
    root = tmp_path_factory.mktemp("results")
    for name, module in MODULES.items():
        assert module.main(["--quick", "--out", str(root / name)]) == 0
    assert report.main(["--quick", "--out", str(root)]) == 0  # reuses every stored part
    return root


def results_of(root, name):
    return json.loads((root / name / "results.json").read_text())


def test_every_experiment_writes_json_csv_png_and_metadata(quick):
    for name in MODULES:
        record = results_of(quick, name)
        meta = record["metadata"]
        assert meta["experiment"] == name and meta["jax_version"] == jax.__version__
        assert meta["x64"] is True and meta["matmul_precision"] == "highest" and meta["devices"]
        assert (quick / name / "results.csv").read_text().count("\n") >= 2
        pngs = list((quick / name).glob("*.png"))
        assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
        assert not list((quick / name).rglob("*.tmp")), "an atomic write left a temporary file"


def test_report_has_every_question_figure_and_number(quick):
    text = (quick / "report.md").read_text()
    for name, title in report.QUESTIONS.items():
        if name in MODULES:
            assert f"## {title}" in text
    for link in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (quick / link).is_file(), link
    s = results_of(quick, "dz_no_one_over_m")["results"]["summary"]
    assert report.g(s["final_cost_mean|1/m twice"]) in text  # the prose quotes the stored numbers


def test_why_average_mean_of_per_example_grads_is_the_batch_grad(quick):
    s = results_of(quick, "why_average")["results"]["summary"]
    # measured (quick): 2.3e-16, 1.1e-7, 6.3e-4, 1.3e-4: each at most a few eps of its dtype
    for dtype, eps in (("float64", 2.0 ** -52), ("float32", 2.0 ** -23), ("bfloat16", 2.0 ** -7), ("float16", 2.0 ** -10)):
        assert s[f"{dtype}_mean_vs_batch"] < 4 * eps, dtype
        assert s[f"{dtype}_sum_vs_sum_batch"] < 4 * eps, dtype
    assert s["float64_sum_vs_m_times_mean"] < 1e-15


def test_why_average_sum_fails_at_large_batch_and_mean_does_not(quick):
    s = results_of(quick, "why_average")["results"]["summary"]
    assert s["first_B_failed|mean"] is None and s["first_B_failed|sum, lr / B"] is None
    assert s["first_B_failed|sum"] is not None
    lo, hi = s["final_cost_range|mean"]
    lo2, hi2 = s["final_cost_range|sum, lr / B"]
    assert abs(lo - lo2) < 1e-4 * lo and abs(hi - hi2) < 1e-4 * hi  # sum at lr/B is the mean (float32 runs)


def test_activations_sigmoid_first_layer_grad_vanishes_at_depth_20(quick):
    s = results_of(quick, "activations")["results"]["summary"]
    assert s["depth"] == 20
    for init in ("matching", "common"):  # measured: sigmoid 1.6e-13 / 2.2e-11, relu 0.10
        assert s[f"dW1_depth20|sigmoid|{init}"] < 1e-6 * s[f"dW1_depth20|relu|{init}"]
        assert s[f"dW1_depth20|tanh|{init}"] > 1e3 * s[f"dW1_depth20|sigmoid|{init}"]


def test_activations_sigmoid_trains_slowest_and_output_gradient(quick):
    s = results_of(quick, "activations")["results"]["summary"]
    for h in ("tanh", "relu", "leaky_relu"):  # moons, 300 steps: sigmoid 0.68, others <= 0.25
        assert s["final_cost|moons|sigmoid"] > s[f"final_cost|moons|{h}"]
    assert s["output_grad_at_z-10|bce"] > 0.99 and s["output_grad_at_z-10|mse"] < 1e-4  # 1 - 4.5e-5, 4.5e-5
    assert all(s[f"time|{size}|relu"] > 0 for size in s["timing_sizes"])


def test_placement_bit_identical_in_float32_for_powers_of_two(quick):
    s = results_of(quick, "placement")["results"]["summary"]
    assert s["float32_pow2_bit_identical"] and s["float32_pow2_cells"] >= 3


def test_placement_float16_absorbed_underflows_and_bfloat16_is_indifferent(quick):
    s = results_of(quick, "placement")["results"]["summary"]
    assert s["float16_absorbed_max_dZ_subnormal"] > 0.3 > 100 * s["float16_deferred_max_dZ_subnormal"]  # 54%, 0.01%
    assert s["float16_absorbed_first_m_dZ_subnormal_over_1pct"] <= 2 ** 14  # quick: 1000
    for p in ("deferred", "absorbed"):
        assert s[f"bfloat16_{p}_max_dZ_subnormal"] == 0 and s[f"bfloat16_{p}_first_m_nonfinite"] is None
        assert s[f"float32_{p}_max_err_dW_finite"] < 1e-6


def test_dz_deferred_is_per_example_and_absorbed_is_dJdZ(quick):
    s = results_of(quick, "dz_no_one_over_m")["results"]["summary"]
    assert s["float64_max_err_deferred_vs_per_example"] < 1e-14  # measured 1.4e-16
    assert s["float64_max_err_absorbed_vs_dJdZ"] < 1e-14
    assert s["float32_max_err_deferred_vs_per_example"] < 1e-6  # measured 3.3e-8
    assert np.allclose(s["float64_ratio"], s["m"], rtol=1e-12)


def test_dz_one_over_m_twice_stalls_training(quick):
    s = results_of(quick, "dz_no_one_over_m")["results"]["summary"]
    assert s["final_cost_mean|1/m twice"] > 10 * s["final_cost_mean|deferred (Ng)"]  # 0.87 vs 0.053
    assert s["max_abs_diff_correct_vs_twice_lr_x_m"] < 1e-4  # measured 6e-8 (float32)


def test_dal_chain_nan_from_z_17_in_float32_while_dzl_and_logits_stay_finite(quick):
    per = results_of(quick, "dal_vs_dzl")["results"]["per_dtype"]
    assert 16 <= per["float32"]["dAL chain"]["finite"][1] < 17.5  # measured 16.5 on a 1/4 grid
    for dtype in per:
        for method in ("dZL rule", "logits autodiff", "J_logits"):
            assert per[dtype][method]["finite"] == [-np.inf, np.inf], (dtype, method)
    hi = {d: per[d]["dAL chain"]["finite"][1] for d in per}
    assert hi["bfloat16"] < hi["float16"] < hi["float32"] < hi["float64"]  # 5.5, 7.5, 16.5, 36.5


def test_rerun_reuses_finished_parts(tmp_path, monkeypatch):
    argv = ["--quick", "--out", str(tmp_path), "--dtypes", "float32", "float64"]
    assert dal_vs_dzl.main(argv) == 0
    before = (tmp_path / "results.json").read_text()

    def fail(*args, **kwargs):
        raise AssertionError("a finished part was recomputed")

    monkeypatch.setattr(dal_vs_dzl, "measure", fail)
    assert dal_vs_dzl.main(argv) == 0
    assert json.loads(before)["results"] == json.loads((tmp_path / "results.json").read_text())["results"]
    with pytest.raises(AssertionError, match="recomputed"):  # a different config is not reused
        dal_vs_dzl.main(argv + ["--z-step", "0.5"])


def test_parse_config_flags_and_quick():
    cfg = _common.parse_config(why_average.Config, ["--quick", "--seeds", "4", "--batch-sizes", "8", "32"], "x")
    assert cfg.seeds == 4 and cfg.batch_sizes == (8, 32) and cfg.num_iterations == why_average.Config.quick().num_iterations
    assert cfg.out_dir == "results/quick/x"
    assert _common.parse_config(why_average.Config, [], "x").out_dir == "results/x"
    with pytest.raises(SystemExit):
        _common.parse_config(placement.Config, ["--dtypes", "float8"], "placement")


def test_pairwise_sum_and_rel_error_against_numpy():
    x = np.random.default_rng(0).normal(size=(3, 1000))
    np.testing.assert_allclose(placement.pairwise_sum(x), x.sum(axis=1), rtol=1e-13)
    # float16 tree: 1024 * 0.1 with 10 levels of rounding; numpy's float64 sum of the same terms is the reference
    h = np.full(1024, 0.1, np.float16)
    assert abs(float(placement.pairwise_sum(h)) - h.astype(np.float64).sum()) < 1024 * 0.1 * 2 ** -10
    assert placement.rel_error(x, x) == 0.0 and placement.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with jax.enable_x64(True):
        assert float(_common.rel_error(jnp.ones(4), 2 * jnp.ones(4))) == pytest.approx(1 / 3, rel=1e-15)


def test_gd_is_a_scan_that_matches_a_python_loop(key):
    X = jax.random.normal(key, (3, 16))
    Y = (X[:1] > 0).astype(X.dtype)
    params = why_average.model.init_params(key, (3, 4, 1), method="he", dtype=X.dtype)
    grad_fn = lambda p, X, Y: dz_no_one_over_m.grads_of(p, X, Y, twice=False)  # noqa: E731
    out, costs, _ = jax.jit(lambda p: _common.gd(p, X, Y, grad_fn, learning_rate=0.5, num_iterations=5))(params)
    p = params
    for t in range(5):
        J, _, grads = grad_fn(p, X, Y)
        assert float(J) == pytest.approx(float(costs[t]), rel=1e-12)
        p = jax.tree.map(lambda a, d: a - 0.5 * d, p, grads)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(p), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gd_matches_jaxbp_train_full_batch_sgd(key):
    """The experiments' loop and the library's jaxbp.train are two implementations of the same descent."""
    from jaxbp import datasets
    from jaxbp.training import train

    X, Y = datasets.moons(key, 200, dtype=jnp.float64)
    params = activations.model.init_params(key, (2, 8, 8, 1), method="he", dtype=jnp.float64)
    _, expected = train(params, X, Y, hidden="relu", output="sigmoid", learning_rate=0.1, num_iterations=30)
    grad_fn = functools.partial(activations.grads_of, hidden="relu", output="sigmoid")
    # X, Y go in as arguments: closed over, jaxbp.backward's value checks would run on them inside the trace
    _, costs, _ = jax.jit(lambda p, X, Y: _common.gd(p, X, Y, grad_fn, learning_rate=0.1, num_iterations=30))(
        params, X, Y)
    np.testing.assert_allclose(costs, expected, rtol=1e-13)  # measured 2.7e-16


def test_cli_runs_an_experiment_by_name(tmp_path):
    from jaxbp import cli

    assert cli.main(["experiment", "dal_vs_dzl", "--quick", "--out", str(tmp_path), "--dtypes", "float32"]) == 0
    per = json.loads((tmp_path / "results.json").read_text())["results"]["per_dtype"]
    assert list(per) == ["float32"]
