"""The `jaxbp` command: the demo, every sub-command's --help, and one-line exit-2 answers to usage mistakes."""

import sys

import pytest

from jaxbp import cli


def run(argv, capsys):
    """(exit status, stdout, stderr) of cli.main(argv), whether it returns or exits."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_demo_trains_and_verifies(capsys):
    status, out, _ = run(["demo", "--iterations", "300"], capsys)
    assert status == 0
    costs = [float(line.split(":")[1]) for line in out.splitlines() if "cost after iteration" in line]
    assert costs[-1] < costs[0] < 0.8  # the cost falls from about log 2
    assert "verified: hand-written backprop equals jax.grad" in out


def test_help_names_every_command(capsys):
    status, out, _ = run(["--help"], capsys)
    assert status == 0 and all(name in out for name in cli.COMMANDS)


def test_experiment_help_lists_every_experiment_with_its_question(capsys):
    status, out, _ = run(["experiment", "--help"], capsys)
    names = cli.experiment_names(cli.experiments_package())
    assert status == 0 and {"why_average", "placement", "device_averaging", "bench"} <= set(names)
    for name in names:  # one line each: the name and the first line of its docstring
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert line.split(maxsplit=1)[1] == cli.first_line(cli.experiments_package(), name)


@pytest.mark.parametrize(("argv", "flag"), [
    (["experiment", "dal_vs_dzl", "--help"], "--z-step"),
    (["experiment", "why_average", "--help"], "--batch-sizes"),
    (["report", "--help"], "--only"),
    (["bench", "--help"], "--repeats"),
    (["demo", "--help"], "--iterations"),
])
def test_each_command_has_its_own_help(argv, flag, capsys):
    status, out, _ = run(argv, capsys)
    assert status == 0 and flag in out and f"usage: jaxbp {argv[0]}" in out


def unwritable(tmp_path):
    (tmp_path / "a_file").write_text("")
    return str(tmp_path / "a_file" / "results")  # a folder inside a file: unwritable even for root


@pytest.mark.parametrize(("argv", "says"), [
    (["demo", "--iterations", "-1"], "argument --iterations: must be >= 0, got -1"),  # 0: verify at init
    (["demo", "--n-h", "0"], "argument --n-h: must be >= 1, got 0"),
    (["--learning-rate", "nan"], "argument --learning-rate: must be a finite number > 0, got nan"),
    (["demo", "--learning-rate", "-1"], "argument --learning-rate"),
    (["experiment", "dal_vs_dzl", "--z-step", "0"], "argument --z-step: must be > 0, got 0"),
    (["experiment", "dal_vs_dzl", "--z-step", "1e-9"], "argument --z-step: 1e-09 makes 2.4e+11 grid points"),
    (["experiment", "why_average", "--seeds", "0"], "argument --seeds: must be >= 1, got 0"),
    (["experiment", "why_average", "--learning-rate", "inf"], "argument --learning-rate: must be finite"),
    (["experiment", "placement", "--dtypes", "float8"], "argument --dtypes: invalid choice: 'float8'"),
    (["experiment", "activations", "--timing-sizes", "8", "16", "32"],
     "argument --timing-sizes: needs (width, m) pairs"),
    (["experiment", "device_averaging", "--imbalances", "1.5"], "argument --imbalances: must be in [0.0, 0.95]"),
    (["experiment", "dal_vs_dzl", "--quick", "--out", "UNWRITABLE"], "argument --out: cannot write to"),
    (["report", "--only", "nosuch"], "invalid choice: 'nosuch' (choose from 'why_average', 'activations'"),
    (["experiment", "nosuch"], "argument NAME: invalid choice: 'nosuch' (choose from 'activations'"),
    (["experiment"], "the experiment NAME comes first; choose from activations"),
    (["nosuch"], "argument COMMAND: invalid choice: 'nosuch' (choose from 'demo', 'check'"),
    (["bench", "--repeats", "0"], "argument --repeats: must be >= 1, got 0"),
])
def test_usage_mistake_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    argv = [unwritable(tmp_path) if a == "UNWRITABLE" else a for a in argv]
    status, out, err = run(argv, capsys)
    assert status == 2
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err, err


@pytest.mark.parametrize("missing", ["matplotlib", "sklearn", "tqdm"])
def test_missing_experiments_extra_is_named(missing, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, missing, None)  # import of it now fails, as where it is not installed
    status, _, err = run(["experiment", "dal_vs_dzl", "--quick", "--out", str(tmp_path)], capsys)
    assert status == 2 and len(err.splitlines()) == 1
    assert f"missing: {missing}" in err and "pip install 'jaxbp[experiments]'" in err
    assert not list(tmp_path.iterdir())  # nothing ran


def test_data_sets_name_the_extra_without_sklearn(monkeypatch):
    from jaxbp import datasets

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxbp\[experiments\]'"):
        datasets.digits()
