"""lstm_forward against the course's NumPy loop; the hand-written lstm_backward (through time) against jax.vjp."""

import functools

import jax
import numpy as np
import pytest
from layer_refs import jit_once, lstm_params, np_lstm_forward, worst_rel_error

from jaxbp.layers import (
    LSTMCaches,
    lstm_backward,
    lstm_caches_as_list,
    lstm_caches_as_stack,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
)

# (n_x, n_a, n_y, m, T_x): T_x from 1 to 10, every size distinct so a transposed weight fails.
CASES = [(3, 5, 2, 4, 1), (2, 4, 3, 3, 4), (4, 3, 2, 2, 10)]
GRADS = ["dWc", "dWf", "dWi", "dWo", "da0", "dbc", "dbf", "dbi", "dbo", "dx"]
# Measured values below are with the comparisons compiled at layer_refs.FAST_COMPILE (XLA's defaults in brackets).
# float64: the house bound; measured worst over CASES 1.9e-16 [1.5e-16, dbi, T_x = 4] against jax.vjp.
TOL64 = 1e-13
# float32, hand-written against jax.vjp, both computed in float32: measured worst over CASES[1:] 1.5e-7
# (da0, T_x = 10) [2.3e-7: dbf, T_x = 10, where dft = dc c_prev ft (1 - ft) sums terms of both signs].
# The bound 2e-6 leaves 9x room at XLA's defaults; longer sequences may need more.
TOL32 = 2e-6


def problem(case, dtype=np.float64, seed=0):
    n_x, n_a, n_y, m, T_x = case
    rng = np.random.default_rng(seed)
    parameters = lstm_params(rng, n_x, n_a, n_y, dtype)
    x = rng.standard_normal((n_x, m, T_x)).astype(dtype)
    a0 = rng.standard_normal((n_a, m)).astype(dtype)
    da = rng.standard_normal((n_a, m, T_x)).astype(dtype)
    return x, a0, parameters, da


def vjp_grads(x, a0, parameters, da):
    """jax.vjp of lstm_forward's a with cotangent da (none on y or c), named as lstm_backward names its grads."""
    _, pullback = jax.vjp(lambda x, a0, parameters: lstm_forward(x, a0, parameters)[0], x, a0, parameters)
    dx, da0, dp = pullback(da)
    return {"dx": dx, "da0": da0, **{f"d{k}": dp[k] for k in ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo")}}


@functools.cache
def solved(case, dtype=np.float64):
    """(problem, (a, y, c), lstm_backward's grads, jax.vjp's), compiled together once per case and dtype."""
    x, a0, parameters, da = problem(case, dtype)

    def both(x, a0, parameters, da):
        a, y, c, caches = lstm_forward(x, a0, parameters)
        return (a, y, c), lstm_backward(da, caches), vjp_grads(x, a0, parameters, da)

    return (x, a0, parameters, da), *jit_once(both)(x, a0, parameters, da)


@functools.cache
def eager(case):
    """lstm_forward then lstm_backward, not jitted: (a, y, c, caches, grads)."""
    x, a0, parameters, da = problem(case)
    a, y, c, caches = lstm_forward(x, a0, parameters)
    return a, y, c, caches, lstm_backward(da, caches)


@functools.cache
def course_loop(case):
    """The course's lstm_forward: one lstm_cell_forward per step, caches = (list of cell caches, x)."""
    x, a0, parameters, _ = problem(case)
    cell = jit_once(lstm_cell_forward)  # one compile for all steps, instead of op by op
    steps, a_next, c_next = [], a0, np.zeros_like(a0)
    for t in range(x.shape[2]):
        a_next, c_next, _, cache = cell(x[:, :, t], a_next, c_next, parameters)
        steps.append(cache)
    return steps, x


@pytest.mark.parametrize("case", CASES)
def test_lstm_forward_matches_numpy_loop(case):
    (x, a0, parameters, _), (a, y, c), _, _ = solved(case)
    assert worst_rel_error((a, y, c), np_lstm_forward(x, a0, parameters)) <= TOL64


def test_lstm_forward_caches_are_the_cells_caches():
    x = problem(CASES[1])[0]
    caches = eager(CASES[1])[3]
    steps, x_out = lstm_caches_as_list(caches)
    assert isinstance(caches[0], LSTMCaches) and x_out is caches[1] and len(steps) == x.shape[2]
    for step, loop_step in zip(steps, course_loop(CASES[1])[0], strict=True):
        assert len(step) == 10 and step[9] is caches[0].parameters
        assert worst_rel_error(step[:9], loop_step[:9]) <= TOL64
    restacked, _ = lstm_caches_as_stack((steps, x))
    assert worst_rel_error(restacked[:9], caches[0][:9]) == 0.0


def test_lstm_cell_backward_matches_vjp():
    x, a0, parameters, da = problem(CASES[0])
    dc_next = np.random.default_rng(1).standard_normal(a0.shape)
    c_prev = np.random.default_rng(2).standard_normal(a0.shape)  # c_prev != 0, so dWf is not 0

    def both(xt, a_prev, c_prev, parameters, da_next, dc_next):
        grads = lstm_cell_backward(da_next, dc_next, lstm_cell_forward(xt, a_prev, c_prev, parameters)[3])
        _, pullback = jax.vjp(lambda xt, a_prev, c_prev, p: lstm_cell_forward(xt, a_prev, c_prev, p)[:2],
                              xt, a_prev, c_prev, parameters)
        dxt, da_prev, dc_prev, dp = pullback((da_next, dc_next))
        reference = {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev,
                     **{f"d{k}": dp[k] for k in ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo")}}
        return grads, reference

    grads, reference = jit_once(both)(x[:, :, 0], a0, c_prev, parameters, da[:, :, 0], dc_next)
    assert sorted(grads) == sorted(reference)
    assert worst_rel_error(grads, reference) <= TOL64


@pytest.mark.parametrize("case", CASES)
def test_lstm_backward_matches_vjp_float64(case):
    _, _, grads, reference = solved(case)
    assert sorted(grads) == GRADS
    assert {k: grads[k].shape for k in grads} == {k: reference[k].shape for k in grads}
    assert worst_rel_error(grads, reference) <= TOL64


def test_lstm_backward_matches_vjp_float32():
    worst = 0.0
    for case in CASES[1:]:  # T_x = 4 and 10 (T_x = 1 is the float64 tests' and the cell test's): one compile less
        _, _, grads, reference = solved(case, np.float32)
        assert all(g.dtype == np.float32 for g in grads.values())
        worst = max(worst, worst_rel_error(grads, reference))
    print(f"lstm_backward float32: worst vs vjp {worst:.2e}; T_x = 10 vs float64 "
          f"{worst_rel_error(solved(CASES[-1], np.float32)[2], solved(CASES[-1])[2]):.2e}")
    assert worst <= TOL32


def test_lstm_backward_accepts_the_course_list_of_caches():
    (_, _, _, da), _, stacked_grads, _ = solved(CASES[1])
    assert worst_rel_error(lstm_backward(da, course_loop(CASES[1])), stacked_grads) <= TOL64


def test_lstm_backward_published_loop_is_not_the_gradient():
    # The 2018 notebook's lstm_backward called lstm_cell_backward(da[:, :, t], dc_prevt, caches[t]),
    # dropping da_prev from step t + 1; its gradient is measurably not jax.vjp's.
    (_, _, _, da), _, _, reference = solved(CASES[1])
    steps, x = course_loop(CASES[1])
    dc_prevt, dx = np.zeros_like(da[:, :, 0]), np.zeros_like(x)
    cell_backward = jit_once(lstm_cell_backward)  # one compile for all steps
    for t in reversed(range(x.shape[2])):
        g = cell_backward(da[:, :, t], dc_prevt, steps[t])
        dx[:, :, t], dc_prevt = g["dxt"], g["dc_prev"]
    assert worst_rel_error([dx], [reference["dx"]]) > 1e-2


def test_lstm_forward_backward_jit():
    # the jitted side: solved's program (forward and backward compiled together, jax.vjp beside them)
    a, y, c, _, grads = eager(CASES[1])
    _, jitted_forward, jitted_grads, _ = solved(CASES[1])
    for u, r in zip(jax.tree.leaves((a, y, c, grads)), jax.tree.leaves((jitted_forward, jitted_grads)),
                    strict=True):
        np.testing.assert_allclose(u, r, rtol=1e-14, atol=1e-14)


def _with(parameters, **changes):
    return {**parameters, **changes}


BAD = {
    "Wf rows": (lambda x, a0, p, da: lstm_forward(x, a0, _with(p, Wf=p["Wf"][:, :4])), ValueError,
                r"parameters\['Wf'\] must be \(n_a, n_a \+ n_x\) = \(4, 6\), got \(4, 4\)"),
    "Wy transposed": (lambda x, a0, p, da: lstm_forward(x, a0, _with(p, Wy=p["Wy"].T)), ValueError,
                      r"parameters\['Wy'\] must be \(n_y, n_a\) = \(n_y, 4\), got \(4, 3\)"),
    "missing bo": (lambda x, a0, p, da: lstm_forward(x, a0, {k: v for k, v in p.items() if k != "bo"}), ValueError,
                   r"parameters is missing key\(s\) bo"),
    "Wc dtype": (lambda x, a0, p, da: lstm_forward(x, a0, _with(p, Wc=p["Wc"].astype(np.float32))), TypeError,
                 r"parameters\['Wc'\] has dtype float32 but x has float64"),
    "da steps": (lambda x, a0, p, da: lstm_backward(da[:, :, :2], eager(CASES[1])[3]), ValueError,
                 r"da must be \(n_a, m, T_x\) = \(4, 3, 4\), got \(4, 3, 2\)"),
    "cell c_prev": (lambda x, a0, p, da: lstm_cell_forward(x[:, :, 0], a0, a0[:, :2], p), ValueError,
                    r"c_prev must be \(n_a, m\) = \(4, 3\), got \(4, 2\)"),
    "NaN a0": (lambda x, a0, p, da: lstm_forward(x, np.where(a0 == a0.flat[0], np.nan, a0), p), ValueError,
               r"a0 holds 1 non-finite value\(s\) \(NaN or Inf\)"),
    "NaN da": (lambda x, a0, p, da: lstm_backward(np.where(da == da.flat[0], np.nan, da), eager(CASES[1])[3]),
               ValueError, r"da holds 1 non-finite value"),
    "cell cache": (lambda x, a0, p, da: lstm_cell_backward(da[:, :, 0], da[:, :, 0], (a0, a0)), TypeError,
                   r"cache must be the tuple \(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters\)"),
}


@pytest.mark.parametrize("name", BAD)
def test_lstm_rejects_bad_input(name):
    call, error, message = BAD[name]
    with pytest.raises(error, match=message):
        call(*problem(CASES[1]))
