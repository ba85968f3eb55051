"""The `jaxbp` command's default job (demo) and its dispatch."""

import pytest

from jaxbp import cli


def test_demo_trains_and_verifies(capsys):
    assert cli.main(["demo", "--iterations", "300"]) == 0
    out = capsys.readouterr().out
    costs = [float(line.split(":")[1]) for line in out.splitlines() if "cost after iteration" in line]
    assert costs[-1] < costs[0] < 0.8  # the cost falls from about log 2
    assert "verified: hand-written backprop equals jax.grad" in out


def test_unknown_experiment_is_named(capsys):
    with pytest.raises(SystemExit, match="no experiment 'nope'"):
        cli.main(["experiment", "nope"])
