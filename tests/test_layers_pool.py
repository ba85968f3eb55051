"""pool_forward against the course's NumPy loops; the hand-written pool_backward against jax.vjp and the loops."""

import functools

import jax
import numpy as np
import pytest
from layer_refs import jit_once, np_pool_backward, np_pool_forward, worst_rel_error

from jaxbp.layers import pool_backward, pool_forward

# (m, n_H_prev, n_W_prev, n_C, f, stride): n_H != n_W, f in {1, 2, 3}, strides 1 and 2,
# overlapping windows (f > stride) and unreached rows (6 - 3 = 3 is odd at stride 2).
CASES = [
    (2, 5, 7, 3, 3, 1),
    (2, 6, 7, 3, 2, 2),
    (1, 7, 6, 2, 3, 2),
    (3, 4, 6, 2, 1, 2),
    (2, 5, 4, 2, 2, 1),
]
MODES = ("max", "average")
# Measured values below are with the comparisons compiled at layer_refs.FAST_COMPILE (XLA's defaults in brackets).
# float64: the house bound; measured worst over CASES x MODES 6.6e-17 [6.8e-17] against jax.vjp, 8.6e-17
# [8.5e-17] against the loops.
TOL64 = 1e-13
# float32, hand-written against jax.vjp, both computed in float32: measured worst over CASES x MODES
# 3.1e-8 [3.7e-8]: overlapping windows sum their contributions in another order (average 3.1e-8; max
# 3.1e-8 [exactly 0: there max pooling only moved values]). Against the float64 loops 3.1e-8 [2.8e-8].
# The bound 5e-7 leaves 16x room.
TOL32 = 5e-7


def problem(case, dtype=np.float64, seed=0, *, integers=False):
    m, n_H_prev, n_W_prev, n_C, f, stride = case
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C))
    if integers:  # few distinct values: many ties inside windows
        A_prev = np.round(A_prev)
    hparameters = {"f": f, "stride": stride}
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    dA = rng.standard_normal((m, n_H, n_W, n_C))
    return A_prev.astype(dtype), hparameters, dA.astype(dtype)


def compiled(case, dtype=np.float64, integers=False):
    """(problem, {mode: (A, pool_backward's dA_prev, jax.vjp's)}), both modes compiled together once."""
    return _compiled(case, np.dtype(dtype).name, integers)  # one cache key however the arguments are given


@functools.cache
def _compiled(case, dtype, integers):
    A_prev, hparameters, dA = problem(case, dtype, integers=integers)

    def both(A_prev, dA):
        results = {}
        for mode in MODES:
            A, cache = pool_forward(A_prev, hparameters, mode)
            _, pullback = jax.vjp(lambda A_prev, mode=mode: pool_forward(A_prev, hparameters, mode)[0], A_prev)
            results[mode] = (A, pool_backward(dA, cache, mode), pullback(dA)[0])
        return results

    return (A_prev, hparameters, dA), jit_once(both)(A_prev, dA)


def solved(case, mode, dtype=np.float64, integers=False):
    """(problem, pool_backward's dA_prev, jax.vjp's) for one mode."""
    problem_, results = compiled(case, dtype, integers)
    return problem_, *results[mode][1:]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_pool_forward_matches_numpy_loops(case, mode):
    (A_prev, hparameters, _), results = compiled(case)
    A = results[mode][0]
    ref = np_pool_forward(A_prev, hparameters["f"], hparameters["stride"], mode)
    assert A.shape == ref.shape
    assert worst_rel_error([A], [ref]) <= TOL64


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_pool_backward_matches_vjp_float64(case, mode):
    (A_prev, _, _), dA_prev, reference = solved(case, mode)
    assert dA_prev.shape == A_prev.shape
    assert worst_rel_error([dA_prev], [reference]) <= TOL64


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_pool_backward_matches_numpy_loops(case, mode):
    (A_prev, hparameters, dA), dA_prev, _ = solved(case, mode)
    ref = np_pool_backward(dA, A_prev, hparameters["f"], hparameters["stride"], mode)
    assert worst_rel_error([dA_prev], [ref]) <= TOL64


def test_pool_backward_matches_vjp_float32():
    worst_vjp, worst_truth = 0.0, 0.0
    for case in CASES:
        for mode in MODES:
            (A_prev, hparameters, dA), dA_prev, reference = solved(case, mode, np.float32)
            assert dA_prev.dtype == np.float32
            worst_vjp = max(worst_vjp, worst_rel_error([dA_prev], [reference]))
            truth = np_pool_backward(dA, A_prev, hparameters["f"], hparameters["stride"], mode)
            worst_truth = max(worst_truth, worst_rel_error([dA_prev], [truth]))
    print(f"pool_backward float32: worst vs vjp {worst_vjp:.2e}, vs float64 loops {worst_truth:.2e}")
    assert worst_vjp <= TOL32


@pytest.mark.parametrize("case", [CASES[0], CASES[1]])
def test_pool_backward_ties_go_to_the_first_max_as_in_vjp(case):
    (A_prev, hparameters, dA), dA_prev, reference = solved(case, "max", integers=True)
    f, stride = hparameters["f"], hparameters["stride"]
    assert worst_rel_error([dA_prev], [reference]) <= TOL64  # jax.vjp of reduce_window max: the first max
    assert worst_rel_error([dA_prev], [np_pool_backward(dA, A_prev, f, stride, "max")]) <= TOL64
    # the course's mask (x == max) gives dA to every tied entry: a different gradient
    assert worst_rel_error([dA_prev], [np_pool_backward(dA, A_prev, f, stride, "max", ties="all")]) > 1e-2


@pytest.mark.parametrize("mode", MODES)
def test_pool_forward_backward_jit(mode):
    # the jitted side: compiled's program (forward and backward compiled together, jax.vjp beside them)
    (A_prev, hparameters, dA), results = compiled(CASES[1])  # f = 2: eager pool_backward runs 4 offsets op by op
    A, cache = pool_forward(A_prev, hparameters, mode)
    assert cache[0] is A_prev and cache[1] is hparameters  # the course's cache, as given
    eager, jitted = (A, pool_backward(dA, cache, mode)), results[mode][:2]
    for u, r in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(u, r, rtol=1e-14, atol=1e-14)


BAD = {
    "mode": (lambda A, hp, dA: pool_forward(A, hp, "min"), ValueError,
             r"mode must be one of 'max', 'average'; got 'min'"),
    "backward mode": (lambda A, hp, dA: pool_backward(dA, pool_forward(A, hp)[1], "mean"), ValueError,
                      r"mode must be one of 'max', 'average'; got 'mean'"),
    "3-D A_prev": (lambda A, hp, dA: pool_forward(A[0], hp), ValueError,
                   r"A_prev must be 4-D \(m, n_H_prev, n_W_prev, n_C\), got shape \(5, 7, 3\)"),
    "no f": (lambda A, hp, dA: pool_forward(A, {"stride": 1}), ValueError, r"missing 'f'"),
    "f too big": (lambda A, hp, dA: pool_forward(A, {"f": 6, "stride": 1}), ValueError,
                  r"f = 6 exceeds the input n_H_prev = 5"),
    "dA shape": (lambda A, hp, dA: pool_backward(dA[:, :2], pool_forward(A, hp)[1]), ValueError,
                 r"dA must be \(m, n_H, n_W, n_C\) = \(2, 3, 5, 3\), got \(2, 2, 5, 3\)"),
    "dA dtype": (lambda A, hp, dA: pool_backward(dA.astype(np.float32), pool_forward(A, hp)[1]), TypeError,
                 r"dA has dtype float32 but A_prev has float64"),
    "NaN A_prev": (lambda A, hp, dA: pool_forward(np.where(A == A.flat[0], np.nan, A), hp), ValueError,
                   r"A_prev holds 1 non-finite value\(s\) \(NaN or Inf\)"),
    "NaN dA": (lambda A, hp, dA: pool_backward(np.where(dA == dA.flat[0], np.nan, dA), pool_forward(A, hp)[1]),
               ValueError, r"dA holds 1 non-finite value"),
    "bool f": (lambda A, hp, dA: pool_forward(A, {"f": True, "stride": 1}), TypeError,
               r"hparameters\['f'\] must be an int, got the bool True"),
    "cache": (lambda A, hp, dA: pool_backward(dA, A), TypeError, r"cache must be the tuple \(A_prev, hparameters\)"),
}


@pytest.mark.parametrize("name", BAD)
def test_pool_rejects_bad_input(name):
    call, error, message = BAD[name]
    with pytest.raises(error, match=message):
        call(*problem(CASES[0]))
