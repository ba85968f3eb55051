"""experiments/bench_check.py: its learner code is the course's, its quick run is complete, a wrong verdict stops it.

No timing is judged against the goals here (the machine is shared); only that the numbers exist,
are positive and are ordered as they must be.
"""

import json

import pytest

from experiments import bench_check
from jaxbp.checking.layer_check.learner import BY_NAME
from jaxbp.course import assignments, notebook


def test_bench_check_targets_are_course_functions_in_shipped_files():
    for target, (file, names) in bench_check.TARGETS.items():
        assert file == bench_check.NOTEBOOK or (bench_check.LEARNER / file).is_file(), file
        backward = names.split(",")[-1]
        known = backward in BY_NAME if target in bench_check.LAYER_TARGETS else backward in assignments.NAMES
        assert known and target.split(".")[0] == backward, target


def test_bench_check_notebook_holds_the_learner_functions(tmp_path):
    bench_check.notebook(bench_check.LEARNER / "gradient_checking.py", tmp_path / bench_check.NOTEBOOK)
    module, notes = notebook.load_notebook(str(tmp_path / bench_check.NOTEBOOK))
    assert not notes and callable(module.backward_propagation_n) and callable(module.forward_propagation_n)


def test_bench_check_quick_run_is_complete_and_every_verdict_ok(tmp_path):
    assert bench_check.main(["--quick", "--out", str(tmp_path)]) == 0  # exit 0: every check said OK
    result = json.loads((tmp_path / "results.json").read_text())["results"]
    (row,) = result["rows"]
    assert row["target"] == "backward_propagation_n"
    runs = result["runs"]
    assert sorted(r["mode"] for r in runs) == sorted(bench_check.MODES)
    for r in runs:
        assert r["verdict_s"] > 0 and r["exit_s"] >= r["verdict_s"] and r["cpu_s"] > 0
        assert r["in_process_ms"] > 0 and r["verdict_s"] >= r["in_process_ms"] / 1e3  # a fresh process: imports too
    by_mode = {r["mode"]: r for r in runs}
    assert by_mode["cold"]["cache_files"] > 0 and by_mode["off"]["cache_files"] == 0
    assert row["cold_verdict_s"] >= row["in_process_ms"] / 1e3 and isinstance(row["met"], bool)
    assert result["imports_alone"]["wall_s"] > 0 and row["imports_cpu_s"] > 0 and len(result["load"]["start"]) == 3
    table = (tmp_path / "bench_check.md").read_text()
    assert "| gradient_checking.py:backward_propagation_n | CLI, .py |" in table and "Load average" in table


def test_bench_check_stops_on_a_wrong_gradient(tmp_path):
    source = (bench_check.LEARNER / "gradient_checking.py").read_text()
    wrong = tmp_path / "wrong.py"
    wrong.write_text(source.replace("db1 = np.sum(dZ1, axis=1, keepdims=True) / m", "db1 = np.sum(dZ1, axis=1, "
                                                                                       "keepdims=True) * 4 / m"))
    assert wrong.read_text() != source
    (tmp_path / "off").mkdir()
    with pytest.raises(bench_check.CheckFailed, match="exited 1"):
        bench_check.check_once("backward_propagation_n", wrong, "backward_propagation_n", "off", tmp_path / "off",
                               60.0, tmp_path)
