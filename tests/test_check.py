"""jaxbp.check: each kind of KINDS is produced by a buggy backprop of the gallery, correct ones pass.

Oracle: tests/gallery.py is an independent NumPy / jax.numpy backprop (the course's equations, not
jaxbp's), checked here to match jax.grad when correct; each planted bug is one known mistake, so the
expected kind, parameters, factor and first divergent layer are known by construction.
"""

import functools
import os

import gallery
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import backprop, cli, course, model
from jaxbp.checking import diagnose
from jaxbp.checking.checker import FD_TOLERANCE, BackwardFnError, check, course_backward, random_problem

M = 64


def problem(dims=(4, 5, 3, 1), *, hidden="relu", output="sigmoid", dtype=np.float64, xp=np, seed=0, m=M,
            as_course=True):
    params, X, Y = random_problem(jax.random.key(seed), dims, m=m, hidden=hidden, output=output, dtype=dtype)
    if xp is jnp:
        params = tuple(jax.tree.map(jnp.asarray, p) for p in params)
        X, Y = jnp.asarray(X), jnp.asarray(Y)
    return (course.to_course(params) if as_course else params), X, Y


def run(bug, *, xp=np, dims=(4, 5, 3, 1), hidden="relu", output="sigmoid", placement="deferred", start="dZL",
        returns="course", dtype=np.float64, checked_as=None, fd=False):
    params, X, Y = problem(dims, hidden=hidden, output=output, dtype=dtype, xp=xp, as_course=returns == "course")
    fn = functools.partial(gallery.backprop, xp=xp, hidden=hidden, output=output, placement=placement, start=start,
                           bug=bug, returns=returns)
    return check(fn, params, X, Y, hidden=hidden, output=output, placement=checked_as or placement, fd=fd)


L3 = ("dW3", "db3")
L2 = ("dW2", "db2")
L1 = ("dW1", "db1")
# id: (bug, run kwargs, {wrong parameter: kind}, factor or None, first divergent layer, its quantity, message part)
GALLERY = {
    "course-dW2x2-db1-4/m": ((("dW-times-2", 2), ("db-4/m", 1)), {}, {"dW2": "scale", "db1": "scale"}, None, 2,
                             "dW2", "= 2 × expected"),
    "missing-1/m": (("no-1/m", None), {}, dict.fromkeys(L1 + L2 + L3, "missing-1/m"), M, 3, "dW3", "1/m is missing"),
    "absorbed-no-1/m-jax": (("absorbed-no-1/m", 3), dict(xp=jnp, placement="absorbed", returns="steps"),
                            dict.fromkeys(L1 + L2 + L3, "missing-1/m"), M, 3, "dZ3", "absorbed"),
    "double-1/m-jax": (("deferred-1/m-too", None), dict(xp=jnp, placement="absorbed", returns="steps", hidden="tanh"),
                       dict.fromkeys(L1 + L2 + L3, "double-1/m"), 1 / M, 3, "dW3", "applied twice"),
    "sign": (("sign", 3), dict(hidden="tanh"), dict.fromkeys(L1 + L2 + L3, "sign"), -1, 3, "dW3", "wrong sign"),
    "fitted-m-1": (("m-minus-1", None), dict(xp=jnp, returns="layers"), dict.fromkeys(L1 + L2 + L3, "scale"),
                   M / (M - 1), 3, "dW3", "fitted"),
    "sum-placement": (None, dict(checked_as="sum"), dict.fromkeys(L1 + L2 + L3, "scale"), 1 / M, 3, "dW3",
                      "placement='sum'"),
    "dW-transposed": (("dW-transposed", 2), {}, {"dW2": "transpose"}, None, 2, "dW2",
                      "(n[2], n[1]) = (3, 5), got (5, 3)"),
    "dW-transposed-square": (("dW-transposed", 2), dict(dims=(4, 5, 5, 1)), {"dW2": "transpose"}, None, 2, "dW2",
                             "dW2 is the transpose of the expected one"),
    "W-not-transposed-jax": (("W-not-transposed", 2), dict(xp=jnp, dims=(4, 5, 5, 1), returns="steps"),
                             dict.fromkeys(L1, "transpose"), None, 2, "dA1", "W2 is not transposed"),
    "sigmoid-prime-in-tanh": (("sigmoid-prime", 2), dict(hidden="tanh"),
                              dict.fromkeys(L1 + L2, "wrong-activation-derivative"), None, 2, "dW2",
                              "layer 2 is tanh but sigmoid′ fits"),
    "tanh-prime-everywhere-jax": (("tanh-prime", None), dict(xp=jnp, dims=(5, 6, 6, 6, 1), returns="layers"),
                                  dict.fromkeys(L1 + L2 + L3, "wrong-activation-derivative"), None, 3, "dW3",
                                  "hidden layers are relu but tanh′ fits at every one"),
    "g-prime-dropped-softmax": (("identity-prime", 1), dict(hidden="leaky_relu", output="softmax", dims=(4, 6, 3)),
                                dict.fromkeys(L1, "wrong-activation-derivative"), None, 1, "dW1", "g′ dropped"),
    "output-tanh-prime-dAL": (("output-tanh-prime", 3), dict(start="dAL"),
                              dict.fromkeys(L1 + L2 + L3, "wrong-activation-derivative"), None, 3, "dW3",
                              "layer 3 is sigmoid but tanh′ fits"),
    "output-prime-twice-jax": (("output-prime-twice", 2), dict(xp=jnp, dims=(3, 4, 1), placement="absorbed"),
                               dict.fromkeys(L1 + L2, "wrong-activation-derivative"), None, 2, "dW2", "applied twice"),
    "prime-at-A": (("prime-at-A", 1), dict(hidden="sigmoid"), dict.fromkeys(L1, "derivative-at-A"), None, 1, "dW1",
                   "evaluated at A1 instead of Z1"),
    "output-prime-at-A": (("output-prime-at-A", 2), dict(start="dAL", dims=(3, 4, 1), hidden="tanh"),
                          dict.fromkeys(L1 + L2, "derivative-at-A"), None, 2, "dW2", "AL instead of Z2"),
    "db-axis-0": (("db-axis-0", 2), {}, {"db2": "wrong-reduction-axis"}, None, 2, "db2", "summed over the units"),
    "db-not-summed-jax": (("db-not-summed", None), dict(xp=jnp, returns="layers", placement="absorbed"),
                          dict.fromkeys(("db1", "db2", "db3"), "wrong-reduction-axis"), None, 3, "db3", "not summed"),
    "db-no-keepdims": (("db-no-keepdims", 1), {}, {"db1": "shape"}, None, 1, "db1",
                       "db1 must be (n[1], 1) = (5, 1), got (5,)"),
    "dW-elementwise": (("dW-elementwise", 3), {}, {"dW3": "shape"}, None, 3, "dW3",
                       "dW3 must be (n[3], n[2]) = (1, 3), got (3, 64)"),
    "l2-term-unexplained": (("l2-term", 2), {}, {"dW2": "unexplained"}, None, 2, "dW2",
                            "first divergence is at layer 2"),
}


@pytest.mark.parametrize("case", GALLERY)
def test_check_gallery_names_kind_parameters_factor_and_layer(case):
    bug, kwargs, wrong, factor, layer, quantity, text = GALLERY[case]
    report = run(bug, **kwargs)
    assert not report.ok
    assert {r.name: r.kind for r in report.wrong} == wrong, str(report)
    for r in report.rows:
        assert r.kind in diagnose.KINDS
        if r.name not in wrong:
            assert r.ok and r.bound_ratio <= 1
    if factor is not None:
        assert all(r.factor == pytest.approx(factor, rel=1e-6) for r in report.wrong), str(report)
    assert (report.first_divergent_layer, report.first_divergent) == (layer, quantity), str(report)
    assert any(text in r.message for r in report.wrong), str(report)


def test_check_course_planted_bugs_named_with_factors_2_and_4():
    report = run((("dW-times-2", 2), ("db-4/m", 1)))
    assert (report["dW2"].kind, report["dW2"].factor) == ("scale", 2.0)
    assert (report["db1"].kind, report["db1"].factor) == ("scale", 4.0)
    assert "dW2 = 2 × expected" in report["dW2"].message and "db1 = 4 × expected" in report["db1"].message
    params, X, Y = problem()
    pair = course_backward(gallery.L_model_forward, gallery.L_model_backward_db1_4_over_m)
    report = check(pair, params, X, Y, hidden="relu", output="sigmoid")
    assert [(r.name, r.kind, r.factor) for r in report.wrong] == [("db1", "scale", 4.0)]


def test_check_nonfinite_where_relu_prime_is_z_over_abs_z_at_z_equal_0():
    params, X, Y = problem(xp=jnp, as_course=False)
    X = X.at[:, 0].set(0.0)  # Z[1] = W[1] 0 + b[1] = 0 exactly in column 0 once b[1] = 0
    params = (params[0]._replace(b=jnp.zeros_like(params[0].b)), *params[1:])
    fn = functools.partial(gallery.backprop, xp=jnp, bug=("relu-prime-z-over-abs-z", 1), returns="layers")
    report = check(fn, params, X, Y, hidden="relu", output="sigmoid")
    assert {r.name: r.kind for r in report.wrong} == {"dW1": "nonfinite", "db1": "nonfinite"}
    assert report.first_divergent_layer == 1 and "NaN/Inf" in report["dW1"].message


CORRECT = [
    dict(),
    dict(dtype=np.float32),
    dict(xp=jnp, dtype=np.float32, returns="steps", placement="absorbed"),
    dict(xp=jnp, returns="layers", placement="sum"),
    dict(hidden="tanh", output="identity", dims=(3, 7, 2), dtype=np.float32),
    dict(hidden="sigmoid", output="softmax", dims=(4, 6, 6, 3), xp=jnp, dtype=np.float32, returns="steps"),
    dict(hidden="leaky_relu", start="dAL", dims=(6, 5, 4, 3, 1), dtype=np.float32),
    dict(xp=jnp, returns="steps", placement="deferred", dtype=np.float32, hidden="tanh", dims=(2, 3, 1)),
    dict(xp=jnp, returns="layers", dtype=jnp.bfloat16),
]


@pytest.mark.parametrize("kwargs", CORRECT)
def test_check_correct_backprop_is_ok(kwargs):
    report = run(None, **kwargs)
    assert report.ok, str(report)
    assert report.precision == np.dtype(kwargs.get("dtype", np.float64)).name  # judged in the dtype it computed in
    assert report.first_divergent_layer is None and all(r.kind == "ok" and r.factor is None for r in report.rows)
    assert all(r.bound_ratio <= 1 for r in report.rows) and f"judged in {report.precision}" in str(report)


@pytest.mark.parametrize("start", ["dZL", "dAL"])
def test_check_correct_float32_is_never_flagged_over_seeds(start):
    worst = 0.0
    for seed in range(20):
        params, X, Y = random_problem(jax.random.key(seed), (4, 5, 3, 1), m=M, hidden="relu", output="sigmoid",
                                            dtype=np.float32)
        fn = functools.partial(gallery.backprop, xp=np, start=start, returns="layers")
        report = check(fn, params, X, Y)
        assert report.ok, str(report)
        worst = max(worst, *(r.bound_ratio for r in report.rows))
    assert worst < 1 / 20  # correct float32 code stays 20x inside the bound (see tests/test_compare.py)


def test_check_course_pair_and_jaxbp_backward_are_ok():
    params, X, Y = problem()
    report = check(course_backward(gallery.L_model_forward, gallery.L_model_backward), params, X, Y)
    assert report.ok and report.dtype == "float64"

    def jaxbp_backward(params, X, Y):  # (grads, steps): dZ and dA are compared too
        AL, caches = model.forward(params, X, hidden="tanh", output="softmax")
        return backprop.backward(params, caches, AL, Y, hidden="tanh", output="softmax", placement="absorbed",
                                 intermediates=True)

    params, X, Y = problem((3, 4, 4, 3), hidden="tanh", output="softmax", dtype=np.float32, xp=jnp, as_course=False)
    report = check(jaxbp_backward, params, X, Y, hidden="tanh", output="softmax", placement="absorbed")
    assert report.ok and report.dtype == "float32" and not report.notes, str(report)


@pytest.mark.parametrize(("user", "checked", "factor"),
                         [("absorbed", "deferred", "1/m"), ("deferred", "absorbed", "m")])
def test_check_other_placement_intermediates_are_a_note_not_a_bug(user, checked, factor):
    report = run(None, xp=jnp, returns="steps", placement=user, checked_as=checked)
    assert report.ok and report.first_divergent_layer is None
    assert report.notes == (f"dZ3, dA2, dZ2, dA1, dZ1, dA0 = {factor} × the {checked} ones: the {user} placement's "
                            f"convention (dZ absorbed = dZ deferred / m), a placement choice, not a bug",)


def test_check_fd_agrees_with_jax_grad_and_counts_no_kink_on_a_smooth_net():
    report = run(("dW-times-2", 2), hidden="tanh", fd=True)
    assert report.fd and not report.notes
    for r in report.rows:
        assert r.kinks == 0
        # FD vs the exact gradient measured at <= 3.9e-9 (40 float64 problems), so FD sees what jax.grad sees
        assert r.fd_rel_error == pytest.approx(r.rel_error, abs=1e-7)
    assert "fd rel error" in str(report)


def test_check_fd_false_alarm_at_a_relu_kink_is_explained_not_reported():
    params, X, Y = problem(as_course=False)
    W1, b1 = params[0]
    b1 = b1.copy()
    b1[0, 0] = 1e-9 - W1[0] @ X[:, 0]  # Z[1][0, 0] ~ 1e-9: a step h ~ 6e-6 on W[1] row 0 or b[1][0] crosses 0
    params = (params[0]._replace(b=b1), *params[1:])
    fn = functools.partial(gallery.backprop, xp=np, returns="layers")
    report = check(fn, params, X, Y, fd=True)
    assert report.ok
    assert report["dW1"].kinks >= 1 and report["db1"].kinks >= 1 and report["dW3"].kinks == 0
    assert report["db1"].fd_rel_error > FD_TOLERANCE
    assert any("db1" in n and "kink" in n and "false alarm" in n for n in report.notes), report.notes


def _raises(params, X, Y):
    raise ZeroDivisionError("division by zero")


@pytest.mark.parametrize(("fn", "error", "text"), [
    (_raises, BackwardFnError, "backward_fn raised ZeroDivisionError: division by zero"),
    (lambda p, X, Y: {"dW1": 0}, BackwardFnError, "missing db1, dW2, db2, dW3, db3"),
    (lambda p, X, Y: None, BackwardFnError, "got NoneType"),
    (lambda p, X, Y: {k: np.zeros((2, 2), int) for k in ("dW1", "db1", "dW2", "db2", "dW3", "db3")},
     BackwardFnError, "dW1 has dtype int64; gradients must be floating point"),
    (lambda p, X, Y: {k: None for k in ("dW1", "db1", "dW2", "db2", "dW3", "db3")}, BackwardFnError,
     "returned None for dW1"),
])
def test_check_bad_backward_fn_is_named_in_learner_terms(fn, error, text):
    params, X, Y = problem()
    with pytest.raises(error, match=text.replace("(", r"\(")) as info:
        check(fn, params, X, Y)
    assert isinstance(info.value, ValueError)


def test_check_bad_inputs_raise_naming_the_argument():
    params, X, Y = problem()
    fn = course_backward(gallery.L_model_forward, gallery.L_model_backward)
    with pytest.raises(TypeError, match="X must have a floating dtype"):
        check(fn, params, X.astype(int), Y)
    bad = X.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"X holds 1 non-finite value"):
        check(fn, params, bad, Y)
    with pytest.raises(ValueError, match="missing"):
        check(fn, {k: v for k, v in params.items() if k != "b2"}, X, Y)
    with pytest.raises(ValueError, match=r"W\[2\] must be \(n\[2\], n\[1\]\) = .*, got \(5, 3\)"):
        check(fn, {**params, "W2": params["W2"].T}, X, Y)
    with pytest.raises(ValueError, match="placement must be one of"):
        check(fn, params, X, Y, placement="mean")
    with pytest.raises(TypeError, match="backward_fn must be a function"):
        check({"dW1": 0}, params, X, Y)
    # before: lambd=-1 made a correct backward WRONG, keep_prob=1.5 and fd="yes" were taken as given
    for kwargs, pattern in ((dict(lambd=-1.0), r"lambd must be a finite number in \[0, inf\), got -1"),
                            (dict(lambd=np.nan), r"lambd must be a finite number in \[0, inf\), got nan"),
                            (dict(keep_prob=1.5), r"keep_prob must be a finite number in \(0, 1\], got 1.5"),
                            (dict(keep_prob=0.0), r"keep_prob must be a finite number in \(0, 1\], got 0"),
                            (dict(fd="yes"), "fd must be True or False, got 'yes'")):
        with pytest.raises(ValueError, match=pattern):
            check(fn, params, X, Y, **kwargs)


def test_check_nan_returned_by_backward_fn_is_a_nonfinite_row():
    params, X, Y = problem()

    def nan_db2(parameters, X, Y):
        grads = gallery.backprop(parameters, X, Y, xp=np)
        grads["db2"] = np.full_like(grads["db2"], np.nan)
        return grads

    report = check(nan_db2, params, X, Y)
    assert [(r.name, r.kind) for r in report.wrong] == [("db2", "nonfinite")]
    assert "db2 holds 3 NaN/Inf value(s) of 3" in str(report)


def test_check_report_renders_for_terminals_notebooks_and_graders():
    report = run(("dW-times-2", 2))
    text, markdown, page = str(report), report._repr_markdown_(), report._repr_html_()
    for shown in (text, markdown, page):
        assert "dW2" in shown and "WRONG" in shown and "2 × expected" in shown and "judged in float64" in shown
    assert markdown.count("\n| ") == 8 and page.count("<tr>") == 7  # header (+ markdown's rule) + 6 parameters
    row = report["dW2"]
    assert (row.name, row.layer, row.kind, row.factor, row.verdict) == ("dW2", 2, "scale", 2.0, "WRONG")
    assert row.rel_error == pytest.approx(1 / 3, rel=1e-9)  # ||2r - r|| / (||2r|| + ||r||) = 1/3
    with pytest.raises(KeyError, match="rows are dW1, db1"):
        report["dW4"]


BUGGY_MODULE = '''
import numpy as np
import gallery


def backward(params, X, Y):
    return gallery.backprop(params, X, Y, xp=np, bug=("dW-times-2", 2), returns="layers")


def broken(params, X, Y):
    return params[0]  # a course dict has no key 0


def correct(parameters, X, Y):
    return gallery.backprop(parameters, X, Y, xp=np, hidden="tanh")
'''


def test_main_grades_with_exit_codes(tmp_path, monkeypatch, capsys):
    (tmp_path / "learner.py").write_text(BUGGY_MODULE)
    assert cli.main(["check", f"{tmp_path / 'learner.py'}:backward", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "dW2 = 2 × expected" in out and "result: WRONG: 1 of 6" in out
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "learner:correct", "--params", "course", "--hidden", "tanh", "--dims", "3,4,1",
                     "--m", "16", "--dtype", "float32", "--fd", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "result: OK: all 4 gradients match" in out and "float32" in out and "kinks" in out
    assert cli.main(["check", "gallery:L_model_forward,L_model_backward_db1_4_over_m", "--placement", "absorbed",
                     "--no-cache"]) == 1
    assert "db1 = 4 × expected" in capsys.readouterr().out
    assert cli.main(["check", "learner:nothing", "--no-cache"]) == 2
    assert "has no function 'nothing'" in capsys.readouterr().err
    assert cli.main(["check", "learner:broken", "--params", "course", "--no-cache"]) == 3
    err = capsys.readouterr().err
    assert "your code raised KeyError: 0" in err and "return params[0]" in err
    assert "jaxbp called: broken(params=dict with keys W1, b1, W2, b2, W3, b3, X=ndarray (4, 64) float64" in err


COURSE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "course_gallery")


@pytest.mark.parametrize(("target", "flags", "code", "shown"), [
    ("three_layer.py:backward_propagation_n", [], 0, ["result: OK: all 6 gradients match",
                                                      "helpers: gc_utils not found beside"]),
    ("three_layer.py:backward_propagation_n_course_bugs", ["--assignment", "backward_propagation_n"], 1,
     ["dW2 = 2 × expected", "where: first divergence at layer 2 (dW2)"]),
    ("deep.py:L_model_backward_old_keys", ["--assignment", "L_model_backward"], 0,
     ['dA1, dA2, dA3 read as dA[l] under "dA" + str(l + 1)']),
    ("regularization.py:backward_propagation_with_regularization", ["--lambd", "0.3"], 0, ["lambd = 0.3"]),
    ("dropout.py:forward_propagation_with_dropout,backward_propagation_with_dropout", ["--keep-prob", "0.5"], 0,
     ["keep_prob = 0.5, masks D1, D2 from that cache"]),
    ("deep.py:L_model_backward_mixed_keys", ["--assignment", "L_model_backward"], 3, ["KeyError: 'dA2'"]),
    ("planar.py:backward_propagation_float_db2", ["--assignment", "backward_propagation"], 3,
     ["NumPy 2 refuses float()"]),
    ("planar.py:backward_propagation", ["--dims", "2,4,4,1"], 2, ["the planar network has 2 layers"]),
    ("nowhere.py:backward_propagation_n", [], 2, ["no file"]),
    ("three_layer.py:backward_propagation_n", ["--keep-prob"], 2, []),
    ("gradient_checking.ipynb:backward_propagation_n_global", ["--assignment", "backward_propagation_n"], 3,
     ["gradient_checking.ipynb [cell 7]", "m is a global set in cell 3 (`m = X.shape[1]`)"]),
])
def test_main_course_functions_exit_0_1_2_3(monkeypatch, capsys, target, flags, code, shown):
    monkeypatch.chdir(COURSE)
    assert cli.main(["check", target, *flags, "--no-cache"]) == code
    captured = capsys.readouterr()
    for part in shown:
        assert part in captured.out + captured.err, captured.out + captured.err


def test_main_lambd_makes_generic_l2_code_right(tmp_path, capsys):
    (tmp_path / "l2.py").write_text(
        "import numpy as np\nimport gallery\n\n\ndef backward(parameters, X, Y):\n"
        "    grads = gallery.backprop(parameters, X, Y, xp=np)\n"
        "    for l in (1, 2, 3):\n        grads[f'dW{l}'] += 0.7 / X.shape[1] * parameters[f'W{l}']\n"
        "    return grads\n")
    target = f"{tmp_path / 'l2.py'}:backward"
    assert cli.main(["check", target, "--params", "course", "--no-cache"]) == 1
    assert cli.main(["check", target, "--params", "course", "--lambd", "0.7", "--no-cache"]) == 0
    assert "result: OK" in capsys.readouterr().out


def test_main_time_reports_verdict_and_repeated_check(monkeypatch, capsys):
    monkeypatch.chdir(COURSE)
    assert cli.main(["check", "deep.py:L_model_backward", "--time", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "time: verdict" in out and "repeated in-process check: median" in out and "cache off" in out
