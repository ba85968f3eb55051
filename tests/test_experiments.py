"""Every experiment in --quick mode, the claims the report makes from its results, and the results folder.

One session-scoped run writes all quick results (and the report) into a temporary folder; each
test then checks one qualitative claim against the numbers, so the report cannot go stale.
Thresholds are stated per claim with the measured quick-mode value in a comment.
"""

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import (
    _common,
    _report_text,
    activations,
    coupled_examples,
    dal_vs_dzl,
    device_averaging,
    dz_no_one_over_m,
    placement,
    report,
    why_average,
)
from jaxbp.checking import compare

MODULES = {"device_averaging": device_averaging, "why_average": why_average, "activations": activations,
           "placement": placement, "dz_no_one_over_m": dz_no_one_over_m, "dal_vs_dzl": dal_vs_dzl,
           "coupled_examples": coupled_examples}  # its claims: tests/test_experiment_coupled.py
TOL_F64 = 1e-12  # float64 agreement of jaxbp's exact all-reduce with one device (measured <= 3.4e-15)


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    """The folder of this test run's quick results, shared by the xdist workers: each experiment runs once."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.getbasetemp().parent / "quick-results"  # the run's folder, above the workers'
    else:
        folder = tmp_path_factory.getbasetemp() / "quick-results"
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def locked(path, wait=True):
    """Hold an exclusive lock on path (one worker at a time in the block); yields False if busy and not wait."""
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def quick_results(root, name, wait=True):
    """results.json of name's main(["--quick", "--out", root/name]), run by the first worker that asks.

    With wait=False, None at once if another worker is running it.
    """
    with locked(root / f".{name}.lock", wait) as mine:
        if not mine:
            return None
        if not (root / name / "results.json").is_file():
            assert MODULES[name].main(["--quick", "--out", str(root / name)]) == 0
    return json.loads((root / name / "results.json").read_text())


@pytest.fixture(scope="session")
def quick(root):
    """Every experiment's quick run, then the report over the same folder (which reads, not reruns, them)."""
    busy = [name for name in MODULES if quick_results(root, name, wait=False) is None]  # others' first
    for name in busy:
        quick_results(root, name)
    with locked(root / ".report.lock"):
        if not (root / "report.md").is_file():
            assert report.main(["--quick", "--out", str(root)]) == 0
    return root


def test_every_experiment_writes_json_csv_png_and_metadata(quick):
    for name in MODULES:
        record = quick_results(quick, name)
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
    s = quick_results(quick, "dz_no_one_over_m")["results"]["summary"]
    assert _report_text.g(s["final_cost_mean|1/m twice"]) in text  # the prose quotes the stored numbers
    d = quick_results(quick, "device_averaging")["results"]
    assert _report_text.g(max(r["exact_rel_error"] for r in d["averaging"])) in text


def test_why_average_mean_of_per_example_grads_is_the_batch_grad(root):
    s = quick_results(root, "why_average")["results"]["summary"]
    # measured (quick): 2.3e-16, 1.1e-7, 6.3e-4, 1.3e-4: each at most a few eps of its dtype
    for dtype, eps in _report_text.EPS.items():  # float64 2^-52, float32 2^-23, bfloat16 2^-7, float16 2^-10
        assert s[f"{dtype}_mean_vs_batch"] < 4 * eps, dtype
        assert s[f"{dtype}_sum_vs_sum_batch"] < 4 * eps, dtype
    assert s["float64_sum_vs_m_times_mean"] < 1e-15


def test_why_average_sum_fails_at_large_batch_and_mean_does_not(root):
    s = quick_results(root, "why_average")["results"]["summary"]
    assert s["first_B_failed|mean"] is None and s["first_B_failed|sum, lr / B"] is None
    assert s["first_B_failed|sum"] is not None
    lo, hi = s["final_cost_range|mean"]
    lo2, hi2 = s["final_cost_range|sum, lr / B"]
    assert abs(lo - lo2) < 1e-4 * lo and abs(hi - hi2) < 1e-4 * hi  # sum at lr/B is the mean (float32 runs)


def test_activations_sigmoid_first_layer_grad_vanishes_at_depth_20(root):
    s = quick_results(root, "activations")["results"]["summary"]
    assert s["depth"] == 20
    for init in ("matching", "common"):  # measured: sigmoid 1.6e-13 / 2.2e-11, relu 0.10
        assert s[f"dW1_depth20|sigmoid|{init}"] < 1e-6 * s[f"dW1_depth20|relu|{init}"]
        assert s[f"dW1_depth20|tanh|{init}"] > 1e3 * s[f"dW1_depth20|sigmoid|{init}"]


def test_activations_sigmoid_trains_slowest_and_output_gradient(root):
    s = quick_results(root, "activations")["results"]["summary"]
    for h in ("tanh", "relu", "leaky_relu"):  # moons, 300 steps: sigmoid 0.68, others <= 0.25
        assert s["final_cost|moons|sigmoid"] > s[f"final_cost|moons|{h}"]
    assert s["output_grad_at_z-10|bce"] > 0.99 and s["output_grad_at_z-10|mse"] < 1e-4  # 1 - 4.5e-5, 4.5e-5
    for size in s["timing_sizes"]:  # the report's shares are (t - t_identity) / t of the stored timings
        t0 = s[f"time|{size}|identity"]
        for h in activations.HIDDEN:
            assert s[f"time|{size}|{h}|share"] == pytest.approx((s[f"time|{size}|{h}"] - t0) / s[f"time|{size}|{h}"])


def test_placement_bit_identical_in_float32_for_powers_of_two(root):
    s = quick_results(root, "placement")["results"]["summary"]
    assert s["float32_pow2_bit_identical"] and s["float32_pow2_cells"] >= 2  # quick: m = 16 and 16384


def test_placement_float16_absorbed_underflows_and_bfloat16_is_indifferent(root):
    s = quick_results(root, "placement")["results"]["summary"]
    assert s["float16_absorbed_max_dZ_subnormal"] > 0.3 > 100 * s["float16_deferred_max_dZ_subnormal"]  # 54%, 0.01%
    assert s["float16_absorbed_first_m_dZ_subnormal_over_1pct"] <= 2 ** 14  # quick: 1000
    for p in ("deferred", "absorbed"):
        assert s[f"bfloat16_{p}_max_dZ_subnormal"] == 0 and s[f"bfloat16_{p}_first_m_nonfinite"] is None
        assert s[f"float32_{p}_max_err_dW_finite"] < 1e-6


def test_dz_deferred_is_per_example_and_absorbed_is_dJdZ(root):
    s = quick_results(root, "dz_no_one_over_m")["results"]["summary"]
    assert s["float64_max_err_deferred_vs_per_example"] < 1e-14  # measured 1.4e-16
    assert s["float64_max_err_absorbed_vs_dJdZ"] < 1e-14
    assert s["float32_max_err_deferred_vs_per_example"] < 1e-6  # measured 3.3e-8
    assert np.allclose(s["float64_ratio"], s["m"], rtol=1e-12)


def test_dz_one_over_m_twice_stalls_training(root):
    s = quick_results(root, "dz_no_one_over_m")["results"]["summary"]
    assert s["final_cost_mean|1/m twice"] > 10 * s["final_cost_mean|deferred (Ng)"]  # 0.87 vs 0.053
    assert s["max_abs_diff_correct_vs_twice_lr_x_m"] < 1e-4  # measured 6e-8 (float32)


def test_dal_chain_nan_from_z_17_in_float32_while_dzl_and_logits_stay_finite(root):
    per = quick_results(root, "dal_vs_dzl")["results"]["per_dtype"]
    assert 16 <= per["float32"]["dAL chain"]["finite"][1] < 17.5  # measured 16.5 on a 1/4 grid
    for dtype in per:
        for method in ("dZL rule", "logits autodiff", "J_logits"):
            assert per[dtype][method]["finite"] == [-np.inf, np.inf], (dtype, method)
    hi = {d: per[d]["dAL chain"]["finite"][1] for d in per}
    assert hi["bfloat16"] < hi["float16"] < hi["float32"] < hi["float64"]  # 5.5, 7.5, 16.5, 36.5


def test_device_averaging_naive_error_is_the_formula_and_jaxbp_is_exact(root):
    r = quick_results(root, "device_averaging")["results"]
    assert len(r["devices"]) == 4  # conftest's CPU devices
    for row in r["averaging"]:
        assert row["exact_rel_error"] <= TOL_F64  # jaxbp's psum of sums and counts is exact
        assert row["formula_rel_error"] <= 1e-12  # the naive error is the predicted one
        if row["imbalance"] == 0:
            assert row["naive_error"] < 1e-14  # even shards: the pmean of means is the mean
        elif row["data"] == "sorted":
            assert row["naive_error"] > 0.1  # and it is large when shards differ (measured 1.1)
    assert [row["counts"] for row in r["averaging"] if row["imbalance"] == 0.9][0] == [476, 325, 175, 24]
    f16 = {(x["placement"], x["divide"], x["m"]): x for x in r["precision"] if x["dtype"] == "float16"}
    m_big = max(m for _, _, m in f16)
    assert f16["deferred", "after", m_big]["n_nonfinite"] > 0  # after: overflow (m = 2^17: largest sum 1.7e5)
    assert f16["absorbed", "before", m_big]["n_nonfinite"] == 0  # before: finite
    assert r["default_divide"] == "before"


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


@pytest.mark.parametrize("damage", [lambda text: text[: len(text) // 2], lambda text: "", lambda text: "[1, 2]"])
def test_truncated_or_emptied_part_is_recomputed_with_a_warning(damage, tmp_path, capsys):
    cfg = dal_vs_dzl.Config.quick()
    assert _common.PartCache(tmp_path, cfg).get("p", lambda: {"x": [1.0, 2.0]}) == {"x": [1.0, 2.0]}
    path = tmp_path / "parts" / "p.json"
    path.write_text(damage(path.read_text()))
    assert _common.PartCache(tmp_path, cfg).get("p", lambda: {"x": [3.0]}) == {"x": [3.0]}  # recomputed
    err = capsys.readouterr().err
    assert f"warning: {path} is unreadable" in err and "recomputing it" in err
    assert json.loads(path.read_text())["value"] == {"x": [3.0]}  # and stored whole again


_KILLED_WRITER = """
import os, signal, sys
from experiments import _common
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)  # killed after writing, before the rename
_common.write_json(sys.argv[1], {"config_tag": "x", "seconds": 0, "value": "half-written"})
"""


def test_sigkill_mid_write_leaves_no_data_and_its_temporary_is_cleaned(tmp_path):
    cfg = dal_vs_dzl.Config.quick()
    target = tmp_path / "parts" / "p.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], env=env, capture_output=True)
    assert done.returncode == -signal.SIGKILL
    (tmp,) = (tmp_path / "parts").glob(".p.json.*.tmp")  # what the kill left behind, a hidden temporary
    assert not target.exists()
    cache = _common.PartCache(tmp_path, cfg)  # the next run in that folder
    assert not tmp.exists()
    assert cache.get("p", lambda: "computed") == "computed"


def test_temporary_of_a_running_writer_is_kept(tmp_path):
    live = tmp_path / f".results.json.{os.getppid()}.0123abcd.tmp"  # the parent process is alive
    live.write_text("in progress")
    _common.remove_stale_temporaries(tmp_path)
    assert live.exists()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_result_files_get_the_umask_permissions(umask, tmp_path):
    old = os.umask(umask)
    try:
        _common.write_json(tmp_path / "results.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_quick_never_writes_over_a_full_run(tmp_path, capsys):
    full = dal_vs_dzl.Config(out_dir=str(tmp_path))
    _common.write_outputs(tmp_path, "dal_vs_dzl", full, {"per_dtype": {}})
    with pytest.raises(SystemExit) as exit_:
        dal_vs_dzl.main(["--quick", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "holds a full run's results" in capsys.readouterr().err
    assert json.loads((tmp_path / "results.json").read_text())["metadata"]["config"]["mode"] == "full"


def test_parse_config_flags_and_quick(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default folders are made (a writability check) under the current one
    cfg = _common.parse_config(why_average.Config, ["--quick", "--seeds", "4", "--batch-sizes", "8", "32"], "x")
    assert cfg.seeds == 4 and cfg.batch_sizes == (8, 32)
    assert cfg.num_iterations == why_average.Config.quick().num_iterations
    assert cfg.out_dir == str(Path("results", "quick", "x")) and cfg.mode == "quick"
    assert _common.parse_config(why_average.Config, [], "x").out_dir == str(Path("results", "x"))
    report_cfg = _common.parse_config(report.Config, ["--quick"], "report", folder="")
    assert report_cfg.out_dir == str(Path("results", "quick"))
    with pytest.raises(SystemExit):
        _common.parse_config(placement.Config, ["--dtypes", "float8"], "placement")
    assert _common.parse_config(placement.Config, ["--seed", "0", "--out", "o"], "placement").seed == 0  # BOUNDS


def test_pairwise_sum_against_numpy():
    x = np.random.default_rng(0).normal(size=(3, 1000))
    np.testing.assert_allclose(placement.pairwise_sum(x), x.sum(axis=1), rtol=1e-13)
    # float16 tree: 1024 * 0.1 with 10 levels of rounding; numpy's float64 sum of the same terms is the reference
    h = np.full(1024, 0.1, np.float16)
    assert abs(float(placement.pairwise_sum(h)) - h.astype(np.float64).sum()) < 1024 * 0.1 * 2 ** -10


def test_experiments_use_the_one_relative_error():
    for module in (placement, why_average, dz_no_one_over_m):
        assert module.rel_error is compare.rel_error
    assert not hasattr(_common, "rel_error")


@pytest.mark.parametrize("shape", [(3,), (4, 5), (2, 3, 4)])
def test_rel_error_in_jit_is_the_one_metric(shape):
    """The traceable twin used inside jitted experiment code gives compare.rel_error's number."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    with _common.precision():
        for u, r in ((a, b), (a, a + 1e-9 * b), (np.zeros(shape), np.zeros(shape)), (a, np.zeros(shape))):
            assert float(jax.jit(_common.rel_error_in_jit)(u, r)) == pytest.approx(compare.rel_error(u, r), rel=1e-14)


def test_one_over_m_twice_is_the_gradient_divided_by_m(key):
    """The bug dz_no_one_over_m trains with: every dW, db is the library's divided by m once more."""
    with jax.enable_x64(True):
        X = jax.random.normal(key, (30, 50), jnp.float64)
        Y = (X[:1] > 0).astype(X.dtype)
        params = dz_no_one_over_m.model.init_params(key, (30, 16, 8, 1), method="he", dtype=X.dtype)
        J, right = _common.library_grads(params, X, Y, hidden="relu", output="sigmoid")
        J2, twice = dz_no_one_over_m.one_over_m_twice(params, X, Y)
    assert float(J) == float(J2)
    for a, b in zip(jax.tree.leaves(twice), jax.tree.leaves(right), strict=True):
        assert compare.rel_error(a, b / 50) < 1e-15


def test_gd_is_a_scan_that_matches_a_python_loop(key):
    X = jax.random.normal(key, (3, 16))
    Y = (X[:1] > 0).astype(X.dtype)
    params = why_average.model.init_params(key, (3, 4, 1), method="he", dtype=X.dtype)
    kw = dict(hidden="relu", output="sigmoid")
    out, costs, accuracies = jax.jit(lambda p: _common.gd(p, X, Y, **kw, learning_rate=0.5, num_iterations=5))(params)
    p = params
    for t in range(5):
        J, grads = _common.library_grads(p, X, Y, **kw)
        assert float(J) == pytest.approx(float(costs[t]), rel=1e-12)
        AL, _ = why_average.model.forward(p, X, **kw)
        assert float(accuracies[t]) == float(jnp.mean((AL > 0.5) == (Y > 0.5)))
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
    # X, Y go in as arguments: closed over, jaxbp.backward's value checks would run on them inside the trace
    _, costs, _ = jax.jit(lambda p, X, Y: _common.gd(p, X, Y, hidden="relu", output="sigmoid", learning_rate=0.1,
                                                     num_iterations=30))(params, X, Y)
    np.testing.assert_allclose(costs, expected, rtol=1e-13)  # measured 2.7e-16


def test_cli_runs_an_experiment_by_name(tmp_path):
    from jaxbp import cli

    assert cli.main(["experiment", "dal_vs_dzl", "--quick", "--out", str(tmp_path), "--dtypes", "float32"]) == 0
    per = json.loads((tmp_path / "results.json").read_text())["results"]["per_dtype"]
    assert list(per) == ["float32"]
