"""jaxbp.check on the course's own functions, known by name, fed the course's inputs (tests/course_gallery/).

Oracle: every gallery function is hand-written in the course's exact signature (dict keys, cache tuples in the
course's order), independently of jaxbp; the correct ones must come out ok in every style (np.dot and @, old and
new dA keys, dict and tuple caches, float32 computations), and each planted mistake is one the course's learners
make, so its kind, its parameters and the layer where it starts are known by construction.
"""

import functools
import os

import gallery
import numpy as np
import pytest

import jaxbp
from jaxbp.checking import diagnose
from jaxbp.course import assignments, grading, helpers, standins
from jaxbp.course.assignments import LearnerError
from jaxbp.course.grading import UsageError

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "course_gallery")


@functools.cache
def module(name):
    return standins.load_source(os.path.join(HERE, f"{name}.py"))[0]


def functions(spec):
    """"deep:L_model_forward,L_model_backward" -> [the gallery's functions]."""
    name, names = spec.split(":")
    return [getattr(module(name), n) for n in names.split(",")]


def run(spec, **kwargs):
    return jaxbp.check(*functions(spec), **kwargs)


CORRECT = {
    "planar": ("planar:backward_propagation", {}),
    "planar-pair": ("planar:forward_propagation,backward_propagation", {}),
    "planar-forward": ("planar:forward_propagation", {}),
    "planar-renamed-params": ("planar:backward_propagation_renamed", dict(assignment="backward_propagation")),
    "gc": ("three_layer:backward_propagation_n", {}),
    "gc-pair": ("three_layer:forward_propagation_n,backward_propagation_n", {}),
    "gc-forward": ("three_layer:forward_propagation_n", {}),
    "gc-float32-inside": ("three_layer:backward_propagation_n_float32", dict(assignment="backward_propagation_n")),
    "gc-float32-inputs": ("three_layer:backward_propagation_n", dict(dtype=np.float32, m=32, seed=5)),
    "l2-cost": ("regularization:compute_cost_with_regularization", {}),
    "l2": ("regularization:backward_propagation_with_regularization", {}),
    "l2-other-lambd-dims": ("regularization:backward_propagation_with_regularization",
                            dict(lambd=0.1, dims=(3, 4, 2, 1))),
    "dropout-pair": ("dropout:forward_propagation_with_dropout,backward_propagation_with_dropout", {}),
    "dropout": ("dropout:backward_propagation_with_dropout", {}),
    "dropout-forward-kp-0.5": ("dropout:forward_propagation_with_dropout", dict(keep_prob=0.5)),
    "deep-pair": ("deep:L_model_forward,L_model_backward", {}),
    "deep-4-layers": ("deep:L_model_backward", dict(dims=(5, 4, 4, 3, 1), m=16, seed=3)),
    "deep-old-keys": ("deep:L_model_backward_old_keys", dict(assignment="L_model_backward")),
    "deep-float32": ("deep:L_model_backward_float32", dict(assignment="L_model_backward", dtype=np.float32)),
    "linear_backward": ("deep:linear_backward", {}),
    "linear_activation_backward": ("deep:linear_activation_backward", {}),
    "relu_backward": ("deep:relu_backward", {}),
    "sigmoid_backward": ("deep:sigmoid_backward", {}),
}


@pytest.mark.parametrize("case", CORRECT)
def test_course_correct_functions_are_ok_without_where(case):
    spec, kwargs = CORRECT[case]
    report = run(spec, **kwargs)
    assert report.ok, str(report)
    assert report.first_divergent_layer is None and "where:" not in str(report)
    assert any(line.startswith("assignment: ") for line in report.context)
    assert any(line.startswith("called: ") for line in report.context)


# id: (spec, kwargs, {row: kind}, first divergent layer, a part of a message)
BUGS = {
    "planar-relu-forward": ("planar:forward_propagation_relu,backward_propagation", {},
                            {"A1": "wrong-activation", "Z2": "unexplained", "A2": "unexplained"}, None,
                            "A1 = relu(Z1) fits: layer 1 is tanh"),
    "planar-tanh-at-A": ("planar:backward_propagation_tanh_at_A", dict(assignment="backward_propagation"),
                         {"dW1": "derivative-at-A", "db1": "derivative-at-A"}, 1, "tanh′(A1) fits"),
    "planar-no-1/m": ("planar:backward_propagation_no_m", dict(assignment="backward_propagation"),
                      dict.fromkeys(("dW1", "db1", "dW2", "db2"), "missing-1/m"), 2, "the 1/m is missing"),
    "gc-course-bugs": ("three_layer:backward_propagation_n_course_bugs", dict(assignment="backward_propagation_n"),
                       {"dW2": "scale", "db1": "scale"}, 2, "dW2 = 2 × expected"),
    "gc-cache-wrong-layer": ("three_layer:backward_propagation_n_wrong_cache",
                             dict(assignment="backward_propagation_n"),
                             {"dW2": "wrong-layer-cache"}, 2, "got (3, 3) = dZ2 A2.T: A2 is taken where A1 belongs"),
    "l2-cost-without-1/m": ("regularization:compute_cost_with_regularization_no_m",
                            dict(assignment="compute_cost_with_regularization"), {"cost": "l2-without-1/m"}, None,
                            "without 1/m"),
    "l2-missing-in-dW2": ("regularization:backward_propagation_with_regularization_missing_dW2",
                          dict(assignment="backward_propagation_with_regularization"), {"dW2": "l2-missing"}, 2,
                          "the L2 term (λ/m) W2 is missing from dW2 (λ = 0.7)"),
    "l2-without-1/m": ("regularization:backward_propagation_with_regularization_no_m",
                       dict(assignment="backward_propagation_with_regularization"),
                       dict.fromkeys(("dW1", "dW2", "dW3"), "l2-without-1/m"), 3, "λ W without 1/m"),
    "l2-doubled": ("regularization:backward_propagation_with_regularization_doubled",
                   dict(assignment="backward_propagation_with_regularization"),
                   dict.fromkeys(("dW1", "dW2", "dW3"), "l2-doubled"), 3, "doubled"),
    "dropout-forward-not-scaled": ("dropout:forward_propagation_with_dropout_not_scaled",
                                   dict(assignment="forward_propagation_with_dropout"),
                                   {"A1": "dropout-not-scaled",
                                    **dict.fromkeys(("Z2", "A2", "Z3", "A3"), "unexplained")},
                                   None, "not divided by keep_prob = 0.86"),
    "dropout-forward-inverted-mask": ("dropout:forward_propagation_with_dropout_inverted_mask",
                                      dict(assignment="forward_propagation_with_dropout"),
                                      {"D1": "dropout-mask-wrong", "D2": "dropout-mask-wrong"}, None,
                                      "keep a unit where rand < keep_prob"),
    "dropout-mask-missing": ("dropout:backward_propagation_with_dropout_no_mask",
                             dict(assignment="backward_propagation_with_dropout"),
                             {"dW1": "dropout-mask-missing", "db1": "dropout-mask-missing"}, 1,
                             "dA1 is not multiplied by the mask D1"),
    "dropout-not-scaled": ("dropout:backward_propagation_with_dropout_not_scaled",
                           dict(assignment="backward_propagation_with_dropout"),
                           dict.fromkeys(("dW1", "db1", "dW2", "db2"), "dropout-not-scaled"), 2,
                           "not divided by keep_prob = 0.86 in every hidden layer"),
    "dAL-reused-sigmoid_backward": ("deep:L_model_backward_dAL_sigmoid", dict(assignment="L_model_backward"),
                                    dict.fromkeys(("dW1", "db1", "dW2", "db2"), "dAL-reused"), 2,
                                    "dZ[l] = dAL * sigmoid′(Z[l]) fits"),
    "dAL-reused-relu-loop": ("deep:L_model_backward_dAL_relu", dict(assignment="L_model_backward"),
                             dict.fromkeys(("dW1", "db1", "dW2", "db2"), "dAL-reused"), 2,
                             "every hidden layer is fed dAL"),
    "dA-from-wrong-layer": ("deep:L_model_backward_stale_dA", dict(assignment="L_model_backward", dims=(4, 5, 5, 5, 1)),
                            dict.fromkeys(("dW1", "db1", "dW2", "db2"), "wrong-layer-dA"), 2,
                            "layer 2 is fed dA3 instead of dA2"),
    "cache-from-wrong-layer": ("deep:L_model_backward_wrong_cache",
                               dict(assignment="L_model_backward", dims=(4, 5, 5, 5, 1)),
                               {"dW1": "wrong-layer-cache", "dW2": "wrong-layer-cache"}, 2,
                               "A2 is taken where A1 belongs"),
    "linear_backward-no-1/m": ("deep:linear_backward_no_m", dict(assignment="linear_backward"),
                               {"dW": "missing-1/m", "db": "missing-1/m"}, None, "the 1/m is missing"),
    "linear_activation_backward-swapped": ("deep:linear_activation_backward_swapped",
                                           dict(assignment="linear_activation_backward"),
                                           {f"{q} ({a})": "wrong-activation-derivative" for a in ("relu", "sigmoid")
                                            for q in ("dA_prev", "dW", "db")}, None,
                                           "sigmoid′ fits where relu′ belongs"),
    "relu_backward-kink": ("deep:relu_backward_kink", dict(assignment="relu_backward"),
                           {"dZ": "wrong-activation-derivative"}, None, "relu′(0) taken as 1"),
    "sigmoid_backward-at-A": ("deep:sigmoid_backward_at_A", dict(assignment="sigmoid_backward"),
                              {"dZ": "wrong-activation-derivative"}, None, "evaluated at A = sigmoid(Z)"),
}


@pytest.mark.parametrize("case", BUGS)
def test_course_bug_named_with_kind_parameters_and_layer(case):
    spec, kwargs, wrong, layer, text = BUGS[case]
    report = run(spec, **kwargs)
    assert {r.name: r.kind for r in report.wrong} == wrong, str(report)
    assert all(r.kind in diagnose.KINDS for r in report.rows)
    assert report.first_divergent_layer == layer, str(report)
    assert any(text in r.message for r in report.wrong), str(report)


def test_course_every_course_kind_is_demonstrated():
    shown = {kind for _, _, wrong, _, _ in BUGS.values() for kind in wrong.values()}
    assert set(diagnose.COURSE_KINDS) <= shown


def test_course_report_says_what_was_called_and_how_it_was_read():
    report = run("three_layer:forward_propagation_n,backward_propagation_n")
    text = str(report)
    assert "assignment: backward_propagation_n(X, Y, cache) -> gradients  (C2W1 Gradient Checking)" in text
    assert "called: backward_propagation_n(X=ndarray (4, 64) float64, Y=ndarray (1, 64) float64, cache=tuple of 12)" \
        in text
    assert "cache: from your forward_propagation_n" in text
    assert 'read: dA1, dA2 read as dA[l] under "dA" + str(l)' in text
    assert [r.name for r in report.rows[:7]] == ["Z1", "A1", "Z2", "A2", "Z3", "A3", "cost"]


def test_course_old_dA_keys_are_read_as_such_and_no_where_is_printed():
    report = run("deep:L_model_backward_old_keys", assignment="L_model_backward")
    assert report.ok and "where:" not in str(report)
    assert 'dA1, dA2, dA3 read as dA[l] under "dA" + str(l + 1) (the 2017-2019 notebooks\' keys' in str(report)


def test_course_where_is_not_printed_while_every_dW_db_is_right():
    def L_model_backward(AL, Y, caches):  # right gradients, a wrong intermediate
        grads = module("deep").L_model_backward(AL, Y, caches)
        grads["dA1"] = 3 * grads["dA1"]
        return grads

    report = jaxbp.check(L_model_backward)
    assert report.ok and report.first_divergent_layer is None and "where:" not in str(report)
    assert any("dA1 differs from the reference while every dW, db is right" in n for n in report.notes)


def test_course_size_1_array_is_never_a_fitted_scale():
    def backward_propagation_n(X, Y, cache):
        grads = module("three_layer").backward_propagation_n(X, Y, cache)
        grads["db3"] = grads["db3"] + 0.0123  # (1, 1): any number is c × the right one
        return grads

    report = jaxbp.check(backward_propagation_n)
    assert [(r.name, r.kind, r.factor) for r in report.wrong] == [("db3", "unexplained", None)], str(report)


def test_course_function_changing_its_argument_in_place_gets_a_note():
    report = run("deep:relu_backward_in_place", assignment="relu_backward")
    assert report.ok
    assert any("changed dA in place" in n and "np.array(dA, copy=True)" in n for n in report.notes)


def test_course_renamed_parameters_are_called_positionally_and_said_so():
    report = run("planar:backward_propagation_renamed", assignment="backward_propagation")
    assert any("(params, cache_, X, Y) are not the course's (parameters, cache, X, Y): called positionally" in n
               for n in report.notes)


def test_course_overrides_reach_the_problem():
    report = run("deep:L_model_backward", dims=(3, 6, 2, 1), m=10, seed=7)
    assert report.ok and report.layer_dims == (3, 6, 2, 1) and report.m == 10
    report = run("dropout:backward_propagation_with_dropout", keep_prob=0.5, m=16)
    assert report.ok and any("keep_prob = 0.5" in c for c in report.context)
    with pytest.raises(UsageError, match="the planar network has 2 layers"):
        run("planar:backward_propagation", dims=(2, 4, 4, 1))
    with pytest.raises(UsageError, match="not one of the course's functions"):
        jaxbp.check(lambda X, Y, cache: None)


def test_course_pair_with_an_unknown_backward_name_is_recognised_from_the_forward():
    deep = module("deep")

    def my_backward(AL, Y, caches):
        return deep.L_model_backward(AL, Y, caches)

    assert assignments.recognise((deep.L_model_forward, my_backward)).name == "L_model_backward"
    assert jaxbp.check(deep.L_model_forward, my_backward).ok


def test_course_generic_form_still_works_from_jaxbp_check():
    params, X, Y = jaxbp.checking.checker.random_problem(0, (4, 5, 3, 1), m=32, hidden="relu", output="sigmoid",
                                                         dtype=np.float64)
    report = jaxbp.check(functools.partial(gallery.backprop, xp=np, returns="layers"), params, X, Y)
    assert report.ok
    report = run("three_layer:backward_propagation_n_old_signature", assignment="backward_propagation_n")
    assert report.ok and any("jaxbp's generic form, not the course's" in c for c in report.context)


def test_course_reg_utils_backward_stands_in_and_is_right_in_the_absorbed_convention():
    report = jaxbp.check(helpers.reg_backward_propagation, assignment="backward_propagation")
    assert report.ok, str(report)
    assert any("absorbed placement's convention" in n for n in report.notes)  # its dz3 = (a3 - Y) / m


RAISES = {
    "float-of-(1,1)": ("planar:backward_propagation_float_db2", dict(assignment="backward_propagation"),
                       ["your code raised TypeError: only 0-dimensional arrays", "planar.py\", line",
                        "db2 = float(1 / m * np.sum(dZ2, axis=1, keepdims=True))", "NumPy 2 refuses float()"]),
    "empty-assert": ("three_layer:backward_propagation_n_assert_float", dict(assignment="backward_propagation_n"),
                     ["your code raised AssertionError (no message)", "assert isinstance(db3, float)",
                      "where db3: ndarray (1, 1) float64", "float(np.squeeze(x))"]),
    "dA-keys-mixed": ("deep:L_model_backward_mixed_keys", dict(assignment="L_model_backward"),
                      ["KeyError: 'dA2'", "where grads: dict with keys dA3, dW3, db3", '"dA" + str(l + 1)']),
    "caches-index": ("deep:L_model_backward_caches_off_by_one", dict(assignment="L_model_backward"),
                     ["IndexError: list index out of range", "current_cache = caches[L]",
                      "caches holds 3 entries, caches[0] ... caches[2]"]),
    "dAL-to-relu_backward": ("deep:L_model_backward_dAL_everywhere", dict(assignment="L_model_backward"),
                             ["in relu_backward", "dZ[Z <= 0] = 0", "where dZ: ndarray (1, 64) float64",
                              "this dA is from another layer (dAL"]),
}


@pytest.mark.parametrize("case", RAISES)
def test_course_raising_code_shows_learner_frames_the_call_and_a_hint(case):
    spec, kwargs, parts = RAISES[case]
    with pytest.raises(LearnerError) as info:
        run(spec, **kwargs)
    text = str(info.value)
    for part in parts:
        assert part in text, text
    assert "jaxbp called: " in text and "hint: " in text
    assert "grading.py" not in text and "checker.py" not in text and "assignments.py" not in text  # jaxbp hidden
    assert info.value.original is not None


def test_course_uncallable_signature_names_the_course_signature():
    def backward_propagation_n(X, Y, cache, parameters, lambd):
        return {}

    with pytest.raises(LearnerError, match=r"cannot call backward_propagation_n\(X, Y, cache, parameters, lambd\): "
                       r"the course's function is backward_propagation_n\(X, Y, cache\) -> gradients"):
        jaxbp.check(backward_propagation_n)


def test_course_unreadable_output_names_the_learner_function():
    def backward_propagation_n(X, Y, cache):
        return {"dW1": 0}

    with pytest.raises(jaxbp.BackwardFnError, match="backward_propagation_n's grads dict is missing db1"):
        jaxbp.check(backward_propagation_n)


def test_grading_problem_is_numpy_from_default_rng():
    P = grading.problem(assignments.NETS["three_layer"], seed=3, m=8)
    again = grading.problem(assignments.NETS["three_layer"], seed=3, m=8)
    assert isinstance(P.X, np.ndarray) and np.array_equal(P.X, again.X) and P.parameters["W1"].shape == (5, 4)


def test_course_pair_names_the_forward_when_the_forward_raises():
    planar = module("planar")

    def forward_propagation(X, parameters):
        return planar.forward_propagation(X, parameters["W1"])  # a learner passing the wrong thing

    with pytest.raises(LearnerError) as info:
        jaxbp.check(forward_propagation, planar.backward_propagation)
    text = str(info.value)
    assert "jaxbp called: forward_propagation(X=ndarray (2, 64) float64, parameters=dict with keys W1, b1" in text
    assert "in forward_propagation" in text and "backward_propagation(" not in text.split("jaxbp called:")[1]


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(m=0), ValueError, r"m must be an int in \[1, inf\), got 0"),
    (dict(m=2.5), ValueError, r"m must be an int, got the float 2.5"),
    (dict(seed=True), ValueError, r"seed must be a number, got the bool True"),
    (dict(seed=-1), ValueError, r"seed must be an int in \[0, inf\), got -1"),
    (dict(dtype="int32"), TypeError, r"dtype must be float64 or float32, got 'int32'"),
    (dict(dtype="float6"), TypeError, r"dtype must be float64 or float32, got 'float6'"),
    (dict(lambd=-1.0), ValueError, r"lambd must be a finite number in \[0, inf\), got -1"),
    (dict(lambd=float("inf")), ValueError, r"lambd must be a finite number in \[0, inf\), got inf"),
    (dict(keep_prob=0.0), ValueError, r"keep_prob must be a finite number in \(0, 1\], got 0"),
    (dict(keep_prob=1.5), ValueError, r"keep_prob must be a finite number in \(0, 1\], got 1.5"),
    (dict(fd="yes"), ValueError, r"fd must be True or False, got 'yes'"),
    (dict(context="my notes"), TypeError, r"context must be a sequence of strings"),
    (dict(dims=(5, 0, 1)), ValueError, r"dims must be \(n_x, n_1, ..., n_L\) with at least 2 positive ints"),
    (dict(dims="5,3,1"), ValueError, r"dims must be \(n_x, n_1, ..., n_L\)"),
])
def test_check_overrides_out_of_their_domain_raise_naming_them(kwargs, error, pattern):
    # before: m=0 became the default 64, lambd=-1 and keep_prob=1.5 were used as given, seed=True was seed 1
    with pytest.raises(error, match=pattern):
        run("deep:L_model_backward", **kwargs)


def test_course_backward_needs_two_functions():
    L_model_forward, L_model_backward = functions("deep:L_model_forward,L_model_backward")
    with pytest.raises(TypeError, match="L_model_forward must be a function, got str"):
        jaxbp.course_backward("L_model_forward", L_model_backward)
    with pytest.raises(TypeError, match="L_model_backward must be a function, got NoneType"):
        jaxbp.course_backward(L_model_forward, None)
