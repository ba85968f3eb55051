"""check_layer on learner-style layer code (tests/layer_gallery): correct code is ok in float64 and float32,
every named mistake is found with its kind and output, raising code is explained (exit code 3)."""

import linecache
import re
import types

import pytest
from layer_gallery import batchnorm, conv, lstm, pool, rnn

from jaxbp import layers
from jaxbp.checking.layer_check import (
    KINDS,
    LAYERS,
    LayerCodeError,
    check_layer,
    check_layer_target,
    exact,
    recognise,
)

# Worst ÷ bound of correct code, measured over seeds 0..19 x float64/float32 x the CORRECT functions below:
# conv 0.013, pool 0.016, rnn_cell 0.0090, rnn 0.0034, lstm_cell 0.0056, lstm 0.0017, batch norm 0.015 (ok is <= 1).
# The smallest ÷ bound of a MISTAKES output over the same runs: float64 6.9e9 (lstm, brackets, dWo), float32 12.8
# (the same); per layer in float32: conv 1.2e4, pool 9.1e4, rnn_cell 2.4e3, rnn 197, lstm_cell 45, batch norm 979.
# CORRECT_RATIO guards the correct code's worst with 10x room.
CORRECT_RATIO = 0.15

CORRECT = {  # id: (backward, forward or None for jaxbp.layers' course cache)
    "conv loops": (conv.conv_backward, conv.conv_forward),
    "conv loops, cache from jaxbp": (conv.conv_backward, None),
    "conv vectorised": (conv.vectorised_conv_backward, conv.vectorised_conv_forward),
    "pool loops": (pool.pool_backward, pool.pool_forward),
    "pool vectorised, cache from jaxbp": (pool.vectorised_pool_backward, None),
    "rnn_cell": (rnn.rnn_cell_backward, rnn.rnn_cell_forward),
    "rnn_cell stacked, cache from jaxbp": (rnn.stacked_rnn_cell_backward, None),
    "rnn_cell jaxbp.layers (JAX arrays)": (layers.rnn_cell_backward, None),  # conv, pool: ~5 s of eager compiles
    "rnn": (rnn.rnn_backward, rnn.rnn_forward),
    "rnn stacked, cache from jaxbp": (rnn.stacked_rnn_backward, None),
    "lstm_cell": (lstm.lstm_cell_backward, lstm.lstm_cell_forward),
    "lstm_cell stacked, cache from jaxbp": (lstm.stacked_lstm_cell_backward, None),
    "lstm": (lstm.lstm_backward, lstm.lstm_forward),
    "lstm stacked, cache from jaxbp": (lstm.stacked_lstm_backward, None),
    "batchnorm graph": (batchnorm.batchnorm_backward, batchnorm.batchnorm_forward),
    "batchnorm closed form": (batchnorm.batchnorm_backward_alt, batchnorm.batchnorm_forward),
}

ALL = "all"  # every backward output of the layer
MISTAKES = [  # (backward, forward, {output: kind} for exactly the wrong outputs)
    (conv.stride_ignored_conv_backward, conv.conv_forward, {"dA_prev": "stride-ignored", "dW": "stride-ignored"}),
    (conv.assigned_conv_backward, None, {"dA_prev": "not-accumulated"}),
    (conv.reset_per_example_conv_backward, None, {"dW": "not-summed-over-examples", "db": "not-summed-over-examples"}),
    (conv.per_example_conv_backward, None, {"dW": "not-summed-over-examples"}),
    (conv.bias_in_window_conv_backward, None, {"db": "bias-in-window-sum"}),
    (conv.divided_by_m_conv_backward, None, {"dW": "extra-1/m", "db": "extra-1/m"}),
    (conv.padded_conv_backward, None, {"dA_prev": "padding-not-stripped"}),
    (conv.vectorised_pad_slice_conv_backward, None, {"dA_prev": "empty-pad-slice"}),
    (conv.swapped_axes_conv_backward, None, {"dA_prev": "transpose"}),
    (conv.swapped_filter_axes_conv_backward, None, {"dW": "transpose"}),
    (conv.flat_db_conv_backward, None, {"db": "shape"}),
    (conv.sign_conv_backward, None, {"dW": "sign"}),
    (conv.mean_db_conv_backward, None, {"db": "scale"}),
    (conv.divide_by_zeros_conv_backward, None, {"db": "nonfinite"}),
    (conv.never_unpadded_conv_backward, None, {"dA_prev": "zeros"}),
    (pool.stride_ignored_pool_backward, pool.pool_forward, {"dA_prev": "stride-ignored"}),
    (pool.assigned_pool_backward, None, {"dA_prev": "not-accumulated"}),
    (pool.mask_over_channels_pool_backward, None, {"dA_prev": "wrong-max-mask"}),
    (pool.no_mask_pool_backward, None, {"dA_prev": "wrong-max-mask"}),
    (pool.times_input_pool_backward, None, {"dA_prev": "wrong-max-mask"}),
    (pool.not_divided_pool_backward, None, {"dA_prev": "average-not-divided"}),
    (pool.mode_ignored_pool_backward, None, {"dA_prev": "wrong-mode"}),
    (pool.tuple_pool_backward, None, {"dA_prev": "missing"}),
    (rnn.tanh_of_a_rnn_cell_backward, rnn.rnn_cell_forward, {"dxt": "derivative-at-A", "da_prev": "derivative-at-A",
                                                             "dWax": "derivative-at-A", "dWaa": "derivative-at-A",
                                                             "dba": "derivative-at-A"}),
    (rnn.no_derivative_rnn_cell_backward, None, dict.fromkeys(["dxt", "da_prev", "dWax", "dWaa", "dba"],
                                                              "missing-activation-derivative")),
    (rnn.a_next_rnn_cell_backward, None, {"dWaa": "wrong-cache-value"}),
    (rnn.transposed_rnn_cell_backward, None, {"dWaa": "transpose"}),
    (rnn.no_keepdims_rnn_cell_backward, None, {"dba": "shape"}),
    (rnn.divided_by_m_rnn_cell_backward, None, {"dWax": "extra-1/m", "dWaa": "extra-1/m", "dba": "extra-1/m"}),
    (rnn.missing_key_rnn_cell_backward, None, {"dba": "missing"}),
    (rnn.not_carried_rnn_backward, rnn.rnn_forward, {ALL: "not-carried-through-time"}),
    (rnn.da_not_added_rnn_backward, None, {ALL: "da-not-added"}),
    (rnn.tanh_of_a_rnn_backward, None, {ALL: "derivative-at-A"}),
    (lstm.no_forget_term_lstm_cell_backward, lstm.lstm_cell_forward, {"dc_prev": "missing-forget-gate"}),
    (lstm.no_forget_factor_lstm_cell_backward, None, {"dc_prev": "missing-forget-gate"}),
    (lstm.brackets_lstm_cell_backward, None, dict.fromkeys(["dxt", "da_prev", "dWf", "dbf", "dWi", "dbi", "dWc",
                                                            "dbc"], "missing-brackets")),
    (lstm.tanh_of_cct_lstm_cell_backward, None, dict.fromkeys(["dxt", "da_prev", "dWc", "dbc"], "derivative-at-A")),
    (lstm.no_tanh_lstm_cell_backward, None, dict.fromkeys(["dxt", "da_prev", "dWo", "dbo"], "unexplained")),
    (lstm.not_carried_lstm_backward, lstm.lstm_forward, {ALL: "not-carried-through-time"}),
    (lstm.da_not_added_lstm_backward, None, {ALL: "da-not-added"}),
    (lstm.brackets_lstm_backward, None, {ALL: "missing-brackets"}),
    (lstm.no_forget_factor_lstm_backward, None, {ALL: "missing-forget-gate"}),
    (batchnorm.no_mean_batchnorm_backward, batchnorm.batchnorm_forward, {"dx": "missing-mean-term"}),
    (batchnorm.no_mean_batchnorm_backward_alt, batchnorm.batchnorm_forward, {"dx": "missing-mean-term"}),
    (batchnorm.no_variance_batchnorm_backward, batchnorm.batchnorm_forward, {"dx": "missing-variance-term"}),
    (batchnorm.constant_stats_batchnorm_backward, batchnorm.batchnorm_forward, {"dx": "constant-batch-statistics"}),
    (batchnorm.keepdims_batchnorm_backward, batchnorm.batchnorm_forward, {"dgamma": "shape", "dbeta": "shape"}),
    (batchnorm.matrix_batchnorm_backward, batchnorm.batchnorm_forward, {"dgamma": "shape"}),
    (batchnorm.divided_by_N_batchnorm_backward, batchnorm.batchnorm_forward, {"dgamma": "extra-1/m",
                                                                             "dbeta": "extra-1/m"}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CORRECT)
def test_check_layer_correct_code_is_ok(name, dtype):
    backward, forward = CORRECT[name]
    report = check_layer(backward, forward, dtype=dtype)
    assert report.ok, str(report)
    assert report.precision == dtype and report.dtype == dtype
    assert max(r.bound_ratio for r in report.rows) <= CORRECT_RATIO
    assert any(r.stage == "forward" for r in report.rows) == (forward is not None)  # the forward's outputs, checked


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backward, forward, expected", MISTAKES, ids=[m[0].__name__ for m in MISTAKES])
def test_check_layer_names_the_mistake_and_the_output(backward, forward, expected, dtype):
    report = check_layer(backward, forward, dtype=dtype)
    backward_rows = [r for r in report.rows if r.stage == "backward"]
    if ALL in expected:
        expected = {r.name: expected[ALL] for r in backward_rows}
    assert {r.name: r.kind for r in report.wrong} == expected, str(report)
    assert all(r.ok for r in report.rows if r.stage == "forward")
    for r in report.wrong:
        assert r.message and r.verdict == "WRONG"
        assert r.bound_ratio is None or r.bound_ratio > 1


def test_check_layer_kinds_are_all_demonstrated():
    shown = {kind for *_, expected in MISTAKES for kind in expected.values()}
    assert shown | {"ok"} == set(KINDS)


def test_check_layer_messages_name_the_case_and_the_factor():
    report = check_layer(conv.stride_ignored_conv_backward)
    row = report["dA_prev"]
    assert row.case == "stride=2 pad=0 f=3" and "ok at stride=1 pad=1 f=3" in row.message
    assert [c.kind for c in row.cases] == ["ok", "stride-ignored", "stride-ignored"]
    assert report["db"].ok
    bias = check_layer(conv.bias_in_window_conv_backward)["db"]
    assert bias.factor == 18 and "f·f·n_C_prev = 18" in bias.message  # f = 3, n_C_prev = 2
    padded = check_layer(conv.padded_conv_backward)["dA_prev"]
    assert "(3, 6, 8, 2)" in padded.message and "its interior is right" in padded.message
    empty = check_layer(conv.vectorised_pad_slice_conv_backward)["dA_prev"]
    assert "X[pad:-pad] is X[0:-0] = X[0:0], empty" in empty.message and empty.case == "stride=2 pad=0 f=3"
    matrix = check_layer(batchnorm.matrix_batchnorm_backward, batchnorm.batchnorm_forward)["dgamma"]
    assert "dgamma must be (D,) = (4,), got (4, 4)" in matrix.message
    averaged = check_layer(pool.not_divided_pool_backward)["dA_prev"]
    assert averaged.factor == 4 and averaged.case == "average f=2 stride=2"


def test_check_layer_float32_by_evidence():
    report = check_layer(conv.float32_inside_conv_backward)
    assert report.ok and report.dtype == "float64" and report.precision == "float32"
    assert any("computes in float32 somewhere although it returns float64" in n for n in report.notes)


def test_check_layer_report_prints_a_table():
    text = str(check_layer(conv.sign_conv_backward, conv.conv_forward))
    assert re.search(r"name\s+case\s+rel error\s+÷ bound\s+verdict\s+kind\s+diagnosis", text)
    assert "Z (forward)" in text and "result: WRONG: 1 of 4 outputs" in text
    assert "dW = −1 × expected: wrong sign" in text


def test_check_layer_wrong_forward_is_reported_first():
    def doubled_conv_forward(A_prev, W, b, hparameters):
        Z, cache = conv.conv_forward(A_prev, W, b, hparameters)
        return 2 * Z, cache

    report = check_layer(conv.conv_backward, doubled_conv_forward)
    assert [(r.name, r.stage, r.kind) for r in report.wrong] == [("Z", "forward", "scale")]
    assert any("doubled_conv_forward differs from jaxbp.layers' forward: fix it first" in n for n in report.notes)

    def no_cache_conv_forward(A_prev, W, b, hparameters):
        return conv.conv_forward(A_prev, W, b, hparameters)[0]

    report = check_layer(conv.conv_backward, no_cache_conv_forward)
    assert {r.kind for r in report.rows} == {"missing"}
    assert report["dW"].message.startswith("not run: conv_forward must return (Z, cache); got ndarray")


def test_check_layer_inputs_are_fresh_per_call():
    def spoiling_conv_backward(dZ, cache):  # writes into every argument it gets
        A_prev, W, b, hparameters = cache
        out = conv.conv_backward(dZ, cache)
        for a in (dZ, A_prev, W, b):
            a[...] = 0
        hparameters["stride"] = 7
        return out

    def spoiling_batchnorm_forward(x, gamma, beta, bn_param):
        out = batchnorm.batchnorm_forward(x, gamma, beta, bn_param)
        bn_param["mode"] = "test"
        return out

    assert check_layer(spoiling_conv_backward).ok and check_layer(conv.conv_backward).ok
    for _ in range(2):
        assert check_layer(batchnorm.batchnorm_backward, spoiling_batchnorm_forward).ok


def test_recognise_the_course_names():
    assert [recognise(f) for f in (conv.conv_backward, pool.pool_backward, rnn.rnn_cell_backward, rnn.rnn_backward,
                                   lstm.lstm_cell_backward, lstm.lstm_backward, batchnorm.batchnorm_backward,
                                   batchnorm.batchnorm_backward_alt)] == \
        ["conv", "pool", "rnn_cell", "rnn", "lstm_cell", "lstm", "batchnorm", "batchnorm_alt"]
    assert recognise(conv.sign_conv_backward) == "conv" and recognise(len, "pool_max") == "pool_max"
    with pytest.raises(ValueError, match="cannot tell the layer from the name 'len'"):
        recognise(len)
    with pytest.raises(ValueError, match="layer must be one of"):
        recognise(len, "dense")
    assert set(LAYERS) >= {"conv", "pool_max", "pool_average", "rnn_cell", "rnn", "lstm_cell", "lstm", "batchnorm",
                           "batchnorm_alt"}


def test_check_layer_usage_mistakes_raise_before_the_learner_code_runs():
    # before: another layer's forward, or layer= naming another layer, called the learner's code with the wrong
    # arguments (LayerCodeError, "could not be called"); seed=True ran as seed 1, -1 and 2.5 failed inside NumPy
    with pytest.raises(ValueError, match=r"forward is pool_forward, the course's pool function, but the layer is "
                                         r"'conv'"):
        check_layer(conv.conv_backward, pool.pool_forward)
    with pytest.raises(ValueError, match=r"backward is conv_backward, the course's conv function, .* 'rnn' \(layer=\)"):
        check_layer(conv.conv_backward, layer="rnn")
    for seed, error, pattern in ((True, ValueError, "seed must be a number, got the bool True"),
                                 (-1, ValueError, r"seed must be an int in \[0, inf\), got -1"),
                                 (2.5, ValueError, "seed must be an int, got the float 2.5"),
                                 (None, TypeError, "seed must be a number, got NoneType")):
        with pytest.raises(error, match=pattern):
            check_layer(conv.conv_backward, seed=seed)


def test_check_layer_pool_modes_alone():
    assert [c.split()[0] for c in check_layer(pool.pool_backward, layer="pool_max").cases] == ["max"] * 3
    report = check_layer(pool.not_divided_pool_backward, layer="pool_max")
    assert report.ok  # the mistake is in average pooling only
    assert check_layer(pool.not_divided_pool_backward, layer="pool_average")["dA_prev"].kind == "average-not-divided"


def test_check_layer_batchnorm_needs_the_forward():
    with pytest.raises(ValueError, match="needs your batchnorm_forward too"):
        check_layer(batchnorm.batchnorm_backward)
    code, text = check_layer_target(batchnorm, "batchnorm_backward_alt")
    assert code == 0 and "with your batchnorm_forward" in text


RAISING = [  # (names, what the text must show: the learner's line, and the hint)
    ("float_b_conv_forward,conv_backward", ["return np.sum(np.multiply(a_slice_prev, W)) + float(b)",
                                            "NumPy 2 refuses float() or int() of an array with dimensions, even of "
                                            "size 1 (b is (1, 1, 1)): write b.item() or float(np.squeeze(b))"]),
    ("conv_forward,pad_slice_conv_backward", ["dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]",
                                              "at pad = 0, X[pad:-pad] is X[0:-0] = X[0:0], which is empty",
                                              "in the case stride=2 pad=0 f=3"]),
    ("global_Wax_rnn_cell_forward,rnn_cell_backward", ["np.dot(Wax, xt)", "Wax is read as a global",
                                                       "Wax = parameters[\"Wax\"]"]),
    ("global_Wy_lstm_cell_forward,lstm_cell_backward", ["softmax(np.dot(Wy, a_next)", "Wy is read as a global",
                                                        "Wy = parameters[\"Wy\"]"]),
    ("unpack_rnn_backward", ["(a1, a0, x1, parameters) = caches", "the course's cache is (list of T_x cell caches"]),
]
@pytest.mark.parametrize("names, shown", RAISING, ids=[r[0] for r in RAISING])
def test_check_layer_target_raising_code_exits_3_with_the_learner_frames(names, shown):
    module = next(m for m in (conv, rnn, lstm) if all(hasattr(m, n) for n in names.split(",")))
    code, text = check_layer_target(module, names)
    assert code == 3, text
    assert text.startswith("your code raised")
    assert re.search(r'File "[^"]*layer_gallery/\w+\.py", line \d+, in \w+', text)
    assert not re.search(r'File "[^"]*jaxbp/', text)  # jaxbp's own frames are hidden
    assert "jaxbp called: " in text and "ndarray (" in text
    for s in shown:
        assert s in text, text


def test_check_layer_target_notebook_global_names_the_cell():
    """A module as jaxbp.course.notebook's loader builds it: cells compiled as "<path> [cell N]", and the notebook's
    top-level assignments (not run) in __jaxbp_globals__."""
    source = ("import numpy as np\n\ndef rnn_cell_forward(xt, a_prev, parameters):\n"
              "    a_next = np.tanh(parameters['Waa'] @ a_prev + Wax @ xt + parameters['ba'])\n"
              "    return a_next, a_next, (a_next, a_prev, xt, parameters)\n")
    filename = "Building_a_RNN.ipynb [cell 4]"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType("learner_notebook")
    module.__jaxbp_globals__ = {"Wax": (3, 2, "Wax = np.random.randn(5, 3)")}
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    module.rnn_cell_backward = rnn.rnn_cell_backward
    code, text = check_layer_target(module, "rnn_cell_forward,rnn_cell_backward")
    assert code == 3
    assert 'File "Building_a_RNN.ipynb [cell 4]", line 4, in rnn_cell_forward' in text
    assert "in the notebook, Wax is a global set in cell 3 (`Wax = np.random.randn(5, 3)`)" in text
    assert 'Wax = parameters["Wax"]' in text


def test_check_layer_target_exit_codes():
    assert check_layer_target(conv, "conv_forward,conv_backward")[0] == 0
    code, text = check_layer_target(conv, ["sign_conv_backward"])
    assert code == 1 and "WRONG" in text
    code, text = check_layer_target(conv, "two_args_conv_backward")
    assert code == 3 and "could not be called" in text and "conv_backward(dZ, cache)" in text
    code, text = check_layer_target(pool, "no_mode_pool_backward")
    assert code == 3 and "unexpected keyword argument 'mode'" in text and "pool_backward(dA, cache, mode=...)" in text
    assert check_layer_target(conv, "nope_backward") == (2, f"jaxbp check: {conv.__file__} has no function "
                                                            "'nope_backward'")
    code, text = check_layer_target(conv, "zero_pad")
    assert code == 2 and "cannot tell the layer from the name 'zero_pad'" in text
    with pytest.raises(LayerCodeError, match="your code raised ValueError"):
        check_layer(conv.pad_slice_conv_backward)


def test_check_layer_reference_compiles_once_per_layer_kind():
    check_layer(conv.conv_backward, seed=1)
    compiled = exact._compiled("conv")
    n = compiled._cache_size()
    for seed in (2, 3):
        assert check_layer(conv.vectorised_conv_backward, seed=seed).ok
    assert exact._compiled("conv") is compiled and compiled._cache_size() == n


def test_jaxbp_check_routes_layer_functions_to_the_layer_checker(capsys):
    from pathlib import Path

    from jaxbp import cli

    conv = Path(__file__).parent / "layer_gallery" / "conv.py"
    assert cli.main(["check", f"{conv}:conv_forward,conv_backward"]) == 0
    assert "result: OK" in capsys.readouterr().out
    assert cli.main(["check", f"{conv}:stride_ignored_conv_backward"]) == 1
    assert "stride-ignored" in capsys.readouterr().out
