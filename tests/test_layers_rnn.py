"""rnn_forward against the course's NumPy loop; the hand-written rnn_backward (through time) against jax.vjp."""

import functools

import jax
import numpy as np
import pytest
from layer_refs import jit_once, np_rnn_forward, rnn_params, worst_rel_error

from jaxbp.layers import (
    RNNCaches,
    rnn_backward,
    rnn_caches_as_list,
    rnn_caches_as_stack,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
)

# (n_x, n_a, n_y, m, T_x): T_x from 1 to 10, every size distinct so a transposed weight fails.
CASES = [(3, 5, 2, 4, 1), (2, 4, 3, 3, 4), (4, 3, 2, 2, 10)]
# Measured values below are with the comparisons compiled at layer_refs.FAST_COMPILE (XLA's defaults in brackets).
# float64: the house bound; measured worst over CASES 1.4e-16 [1.4e-16, dWaa, T_x = 10] against jax.vjp.
TOL64 = 1e-13
# float32, hand-written against jax.vjp, both computed in float32: measured worst over CASES 1.0e-7
# (dWax, T_x = 10; 9.1e-8 dba at T_x = 1) [8.5e-8: dba, T_x = 1; 6.6e-8 at T_x = 10]. The bound 1e-6
# leaves 9x room; T_x beyond 10 may need more (errors carried through tanh' grow with the steps).
TOL32 = 1e-6


def problem(case, dtype=np.float64, seed=0):
    n_x, n_a, n_y, m, T_x = case
    rng = np.random.default_rng(seed)
    parameters = rnn_params(rng, n_x, n_a, n_y, dtype)
    x = rng.standard_normal((n_x, m, T_x)).astype(dtype)
    a0 = rng.standard_normal((n_a, m)).astype(dtype)
    da = rng.standard_normal((n_a, m, T_x)).astype(dtype)
    return x, a0, parameters, da


def vjp_grads(x, a0, parameters, da):
    """jax.vjp of rnn_forward's a with cotangent da, named as rnn_backward names its grads."""
    _, pullback = jax.vjp(lambda x, a0, parameters: rnn_forward(x, a0, parameters)[0], x, a0, parameters)
    dx, da0, dp = pullback(da)
    return {"dx": dx, "da0": da0, "dWax": dp["Wax"], "dWaa": dp["Waa"], "dba": dp["ba"]}


@functools.cache
def solved(case, dtype=np.float64):
    """(problem, (a, y_pred), rnn_backward's grads, jax.vjp's), compiled together once per case and dtype."""
    x, a0, parameters, da = problem(case, dtype)

    def both(x, a0, parameters, da):
        a, y_pred, caches = rnn_forward(x, a0, parameters)
        return (a, y_pred), rnn_backward(da, caches), vjp_grads(x, a0, parameters, da)

    return (x, a0, parameters, da), *jit_once(both)(x, a0, parameters, da)


@pytest.mark.parametrize("case", CASES)
def test_rnn_forward_matches_numpy_loop(case):
    (x, a0, parameters, _), (a, y_pred), _, _ = solved(case)
    assert worst_rel_error((a, y_pred), np_rnn_forward(x, a0, parameters)) <= TOL64


@functools.cache
def eager(case):
    """rnn_forward then rnn_backward, not jitted: (problem, a, y_pred, caches, grads), for the tests that need eager."""
    x, a0, parameters, da = problem_ = problem(case)
    a, y_pred, caches = rnn_forward(x, a0, parameters)
    return problem_, a, y_pred, caches, rnn_backward(da, caches)


@functools.cache
def course_loop(case):
    """The course's rnn_forward: one rnn_cell_forward per step, caches = (list of cell caches, x)."""
    x, a0, parameters, _ = problem(case)
    cell = jit_once(rnn_cell_forward)  # one compile for all steps, instead of op by op
    steps, a, y_pred, a_prev = [], [], [], a0
    for t in range(x.shape[2]):
        a_prev, yt_pred, cache = cell(x[:, :, t], a_prev, parameters)
        steps.append(cache)
        a.append(a_prev)
        y_pred.append(yt_pred)
    return np.stack(a, axis=-1), np.stack(y_pred, axis=-1), (steps, x)


def test_rnn_forward_caches_are_the_cells_caches():
    (x, _, parameters, _), a, y_pred, caches, _ = eager(CASES[1])  # eager: the caches hold the objects given
    a_loop, y_loop, (loop_steps, _) = course_loop(CASES[1])
    assert worst_rel_error((a, y_pred), (a_loop, y_loop)) <= TOL64
    steps, x_out = rnn_caches_as_list(caches)
    assert isinstance(caches[0], RNNCaches) and x_out is x and len(steps) == x.shape[2]
    for step, loop_step in zip(steps, loop_steps, strict=True):
        assert worst_rel_error(step[:3], loop_step[:3]) <= TOL64 and step[3] is parameters
    restacked, _ = rnn_caches_as_stack((steps, x))
    assert worst_rel_error(restacked[:3], caches[0][:3]) == 0.0


def test_rnn_cell_backward_matches_vjp():
    x, a0, parameters, da = problem(CASES[0])

    def both(xt, a_prev, parameters, da_next):
        grads = rnn_cell_backward(da_next, rnn_cell_forward(xt, a_prev, parameters)[2])
        _, pullback = jax.vjp(lambda xt, a_prev, p: rnn_cell_forward(xt, a_prev, p)[0], xt, a_prev, parameters)
        dxt, da_prev, dp = pullback(da_next)
        return grads, {"dxt": dxt, "da_prev": da_prev, "dWax": dp["Wax"], "dWaa": dp["Waa"], "dba": dp["ba"]}

    grads, reference = jit_once(both)(x[:, :, 0], a0, parameters, da[:, :, 0])
    assert sorted(grads) == sorted(reference)
    assert worst_rel_error(grads, reference) <= TOL64


@pytest.mark.parametrize("case", CASES)
def test_rnn_backward_matches_vjp_float64(case):
    (x, a0, parameters, _), _, grads, reference = solved(case)
    assert sorted(grads) == ["dWaa", "dWax", "da0", "dba", "dx"]
    assert {k: grads[k].shape for k in grads} == {k: reference[k].shape for k in grads}
    assert worst_rel_error(grads, reference) <= TOL64


def test_rnn_backward_matches_vjp_float32():
    worst = 0.0
    for case in CASES:
        _, _, grads, reference = solved(case, np.float32)
        assert all(g.dtype == np.float32 for g in grads.values())
        worst = max(worst, worst_rel_error(grads, reference))
    _, _, truth, _ = solved(CASES[-1])  # float64, to see float32's own rounding
    print(f"rnn_backward float32: worst vs vjp {worst:.2e}; T_x = 10 vs float64 "
          f"{worst_rel_error(solved(CASES[-1], np.float32)[2], truth):.2e}")
    assert worst <= TOL32


def test_rnn_backward_accepts_the_course_list_of_caches():
    (_, _, _, da), _, stacked_grads, _ = solved(CASES[1])
    grads = rnn_backward(da, course_loop(CASES[1])[2])
    assert worst_rel_error(grads, stacked_grads) <= TOL64


def test_rnn_forward_backward_jit():
    # the jitted side: solved's program (forward and backward compiled together, jax.vjp beside them)
    _, a, y_pred, _, grads = eager(CASES[1])
    _, jitted_forward, jitted_grads, _ = solved(CASES[1])
    for u, r in zip(jax.tree.leaves((a, y_pred, grads)), jax.tree.leaves((jitted_forward, jitted_grads)),
                    strict=True):
        np.testing.assert_allclose(u, r, rtol=1e-14, atol=1e-14)


def _with(parameters, **changes):
    return {**parameters, **changes}


BAD = {
    "Wax transposed": (lambda x, a0, p, da: rnn_forward(x, a0, _with(p, Wax=p["Wax"].T)), ValueError,
                       r"parameters\['Wax'\] must be \(n_a, n_x\) = \(4, 2\), got \(2, 4\)"),
    "1-D ba": (lambda x, a0, p, da: rnn_forward(x, a0, _with(p, ba=p["ba"][:, 0])), ValueError,
               r"parameters\['ba'\] must be 2-D \(n_a, 1\), got shape \(4,\)"),
    "missing by": (lambda x, a0, p, da: rnn_forward(x, a0, {k: v for k, v in p.items() if k != "by"}), ValueError,
                   r"parameters is missing key\(s\) by"),
    "2-D x": (lambda x, a0, p, da: rnn_forward(x[:, :, 0], a0, p), ValueError,
              r"x must be 3-D \(n_x, m, T_x\), got shape \(2, 3\)"),
    "a0 examples": (lambda x, a0, p, da: rnn_forward(x, a0[:, :2], p), ValueError,
                    r"a0 must be \(n_a, m\) = \(n_a, 3\), got \(4, 2\)"),
    "a0 dtype": (lambda x, a0, p, da: rnn_forward(x, a0.astype(np.float32), p), TypeError,
                 r"a0 has dtype float32 but x has float64"),
    "da steps": (lambda x, a0, p, da: rnn_backward(da[:, :, :2], eager(CASES[1])[3]), ValueError,
                 r"da must be \(n_a, m, T_x\) = \(4, 3, 4\), got \(4, 3, 2\)"),
    "cell da_next": (lambda x, a0, p, da: rnn_cell_backward(da[:2, :, 0], rnn_cell_forward(x[:, :, 0], a0, p)[2]),
                     ValueError, r"da_next must be \(n_a, m\) = \(4, 3\), got \(2, 3\)"),
    "NaN x": (lambda x, a0, p, da: rnn_forward(np.where(x == x.flat[0], np.nan, x), a0, p), ValueError,
              r"x holds 1 non-finite value\(s\) \(NaN or Inf\)"),
    "Inf Waa": (lambda x, a0, p, da: rnn_forward(x, a0, _with(p, Waa=np.where(p["Waa"] == p["Waa"].flat[0], np.inf,
                                                                                p["Waa"]))),
                ValueError, r"parameters\['Waa'\] holds 1 non-finite value"),
    "caches": (lambda x, a0, p, da: rnn_backward(da, eager(CASES[1])[3][0]), TypeError,
               r"caches must be the tuple \(caches, x\)"),
}


@pytest.mark.parametrize("name", BAD)
def test_rnn_rejects_bad_input(name):
    call, error, message = BAD[name]
    with pytest.raises(error, match=message):
        call(*problem(CASES[1]))
