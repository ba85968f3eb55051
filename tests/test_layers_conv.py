"""conv_forward against the course's NumPy loops; the hand-written conv_backward against jax.vjp and the loops."""

import functools

import jax
import numpy as np
import pytest
from layer_refs import jit_once, np_conv_backward, np_conv_forward, np_zero_pad, worst_rel_error

from jaxbp.layers import conv_backward, conv_forward, zero_pad

# (m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad): n_H != n_W everywhere, f in {1, 2, 3},
# strides 1 and 2, pads 0 and 1, and windows that leave rows unreached (7 + 2 - 3 = 6 is even, 6 - 2 = 4 ...).
CASES = [
    (2, 5, 7, 3, 4, 3, 1, 1),
    (2, 6, 7, 3, 2, 2, 2, 0),  # the last column of 7 is reached by no window
    (1, 7, 5, 2, 3, 3, 2, 1),
    (3, 4, 6, 3, 2, 1, 2, 0),  # f = 1, stride 2: every other row unreached
    (2, 5, 4, 2, 3, 2, 1, 1),
    (2, 6, 5, 1, 2, 3, 2, 0),
]
# Measured values below are with the comparisons compiled at layer_refs.FAST_COMPILE (XLA's defaults in brackets).
# float64: the house bound; measured worst over CASES 1.4e-16 [1.1e-16] against jax.vjp, 1.5e-16 [1.6e-16]
# against the loops.
TOL64 = 1e-13
# float32, hand-written against jax.vjp, both computed in float32: measured worst over CASES 6.8e-8 [7.2e-8]
# (dW, (2, 5, 4, 2, 3, 2, 1, 1)); against the float64 loops 6.9e-8, so both sit at float32's own rounding
# (unit roundoff 6e-8). The bound 1e-6 leaves 14x room for other XLA builds' summation orders.
TOL32 = 1e-6


def problem(case, dtype=np.float64, seed=0):
    m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad = case
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev)).astype(dtype)
    W = rng.standard_normal((f, f, n_C_prev, n_C)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, n_C)).astype(dtype)
    hparameters = {"stride": stride, "pad": pad}
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    dZ = rng.standard_normal((m, n_H, n_W, n_C)).astype(dtype)
    return A_prev, W, b, hparameters, dZ


@functools.cache
def solved(case, dtype=np.float64):
    """(problem, conv_backward's grads, jax.vjp's grads, Z), compiled together once per case and dtype."""
    A_prev, W, b, hparameters, dZ = problem(case, dtype)

    def both(A_prev, W, b, dZ):
        Z, cache = conv_forward(A_prev, W, b, hparameters)
        _, pullback = jax.vjp(lambda A_prev, W, b: conv_forward(A_prev, W, b, hparameters)[0], A_prev, W, b)
        return conv_backward(dZ, cache), pullback(dZ), Z

    return (A_prev, W, b, hparameters, dZ), *jit_once(both)(A_prev, W, b, dZ)


def test_zero_pad_matches_numpy():
    X = np.random.default_rng(0).standard_normal((2, 3, 5, 2))
    for pad in (0, 1, 2):
        np.testing.assert_array_equal(zero_pad(X, pad), np_zero_pad(X, pad))


@pytest.mark.parametrize("case", CASES)
def test_conv_forward_matches_numpy_loops(case):
    (A_prev, W, b, hparameters, _), _, _, Z = solved(case)
    ref = np_conv_forward(A_prev, W, b, hparameters["stride"], hparameters["pad"])
    assert Z.shape == ref.shape
    assert worst_rel_error([Z], [ref]) <= TOL64


def test_conv_forward_cache_is_the_course_tuple_of_its_inputs():
    A_prev, W, b, hparameters, _ = problem(CASES[0])
    Z, cache = conv_forward(A_prev, W, b, hparameters)  # eager: the cache holds the very objects given
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b and cache[3] is hparameters
    assert worst_rel_error([Z], [solved(CASES[0])[3]]) <= TOL64


@pytest.mark.parametrize("case", CASES)
def test_conv_backward_matches_vjp_float64(case):
    (A_prev, W, b, _, _), grads, reference, _ = solved(case)
    assert [g.shape for g in grads] == [A_prev.shape, W.shape, b.shape]
    assert worst_rel_error(grads, reference) <= TOL64


@pytest.mark.parametrize("case", CASES)
def test_conv_backward_matches_numpy_loops(case):
    (A_prev, W, b, hparameters, dZ), grads, _, _ = solved(case)
    assert worst_rel_error(grads, np_conv_backward(dZ, A_prev, W, hparameters["stride"], hparameters["pad"])) <= TOL64


def test_conv_backward_matches_vjp_float32():
    worst_vjp, worst_truth = 0.0, 0.0
    for case in CASES:
        (A_prev, W, b, hparameters, dZ), grads, reference, _ = solved(case, np.float32)
        assert all(g.dtype == np.float32 for g in grads)
        worst_vjp = max(worst_vjp, worst_rel_error(grads, reference))
        truth = np_conv_backward(dZ, A_prev, W, hparameters["stride"], hparameters["pad"])
        worst_truth = max(worst_truth, worst_rel_error(grads, truth))
    print(f"conv_backward float32: worst vs vjp {worst_vjp:.2e}, vs float64 loops {worst_truth:.2e}")
    assert worst_vjp <= TOL32


def test_conv_forward_backward_jit():
    # the jitted side: solved's program (forward and backward compiled together, jax.vjp beside them)
    (A_prev, W, b, hparameters, dZ), grads, _, Z = solved(CASES[1])
    eager_Z, cache = conv_forward(A_prev, W, b, hparameters)
    eager, jitted = (eager_Z, conv_backward(dZ, cache)), (Z, grads)
    for u, r in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(u, r, rtol=1e-14, atol=1e-14)


BAD = {
    "W channels": (lambda A, W, b, hp, dZ: conv_forward(A, W[:, :, :2], b, hp), ValueError,
                   r"W must be \(f, f, n_C_prev, n_C\) = \(3, 3, 3, n_C\), got \(3, 3, 2, 4\)"),
    "W not square": (lambda A, W, b, hp, dZ: conv_forward(A, W[:2], b, hp), ValueError,
                     r"W must be \(f, f, n_C_prev, n_C\) = \(2, 2, 3, n_C\), got \(2, 3, 3, 4\)"),
    "1-D b": (lambda A, W, b, hp, dZ: conv_forward(A, W, b.reshape(-1), hp), ValueError,
              r"b must be 4-D \(1, 1, 1, n_C\), got shape \(4,\)"),
    "b channels": (lambda A, W, b, hp, dZ: conv_forward(A, W, b[..., :3], hp), ValueError,
                   r"b must be \(1, 1, 1, n_C\) = \(1, 1, 1, 4\), got \(1, 1, 1, 3\)"),
    "3-D A_prev": (lambda A, W, b, hp, dZ: conv_forward(A[0], W, b, hp), ValueError,
                   r"A_prev must be 4-D \(m, n_H_prev, n_W_prev, n_C_prev\), got shape \(5, 7, 3\)"),
    "list A_prev": (lambda A, W, b, hp, dZ: conv_forward(A.tolist(), W, b, hp), TypeError, r"A_prev must be an array"),
    "int A_prev": (lambda A, W, b, hp, dZ: conv_forward(A.astype(int), W, b, hp), TypeError, r"floating dtype"),
    "mixed dtype": (lambda A, W, b, hp, dZ: conv_forward(A, W.astype(np.float32), b, hp), TypeError,
                    r"W has dtype float32 but A_prev has float64"),
    "no pad": (lambda A, W, b, hp, dZ: conv_forward(A, W, b, {"stride": 1}), ValueError, r"missing 'pad'"),
    "stride 0": (lambda A, W, b, hp, dZ: conv_forward(A, W, b, {"stride": 0, "pad": 1}), ValueError,
                 r"hparameters\['stride'\] must be >= 1, got 0"),
    "float pad": (lambda A, W, b, hp, dZ: conv_forward(A, W, b, {"stride": 1, "pad": 1.5}), TypeError,
                  r"hparameters\['pad'\] must be an int"),
    "f too big": (lambda A, W, b, hp, dZ: conv_forward(A[:, :2], W, b, {"stride": 1, "pad": 0}), ValueError,
                  r"f = 3 exceeds the padded input n_H_prev \+ 2 pad = 2"),
    "dZ shape": (lambda A, W, b, hp, dZ: conv_backward(dZ[:, :, :6], conv_forward(A, W, b, hp)[1]), ValueError,
                 r"dZ must be \(m, n_H, n_W, n_C\) = \(2, 5, 7, 4\), got \(2, 5, 6, 4\)"),
    "cache": (lambda A, W, b, hp, dZ: conv_backward(dZ, (A, W, b)), TypeError,
              r"cache must be the tuple \(A_prev, W, b, hparameters\)"),
    "NaN A_prev": (lambda A, W, b, hp, dZ: conv_forward(np.where(A == A.flat[0], np.nan, A), W, b, hp), ValueError,
                   r"A_prev holds 1 non-finite value\(s\) \(NaN or Inf\)"),
    "Inf dZ": (lambda A, W, b, hp, dZ: conv_backward(np.where(dZ == dZ.flat[0], np.inf, dZ),
                                                     conv_forward(A, W, b, hp)[1]), ValueError,
               r"dZ holds 1 non-finite value"),
    "bool stride": (lambda A, W, b, hp, dZ: conv_forward(A, W, b, {"stride": True, "pad": 1}), TypeError,
                    r"hparameters\['stride'\] must be an int, got the bool True"),
    "bool pad of zero_pad": (lambda A, W, b, hp, dZ: zero_pad(A, True), TypeError,
                             r"pad must be an int, got the bool True"),
    "traced hparameters": (lambda A, W, b, hp, dZ: jax.jit(lambda hp: conv_forward(A, W, b, hp)[0])(hp), TypeError,
                           r"must be a static int"),
}


@pytest.mark.parametrize("name", BAD)
def test_conv_rejects_bad_input(name):
    call, error, message = BAD[name]
    with pytest.raises(error, match=message):
        call(*problem(CASES[0]))
