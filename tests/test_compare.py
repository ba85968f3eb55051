"""The rounding bound (jaxbp.checking.compare) decides every verdict: both of its sides, measured.

Measured with /tmp-style sweeps over 3 shapes x relu/tanh x sigmoid/softmax/identity x 3 placements x
both starts, at init, after 200 and after 3000 Adam steps, m = 64 and 1000, NumPy and jax.numpy code in
float64, float32, and float32 returning float64: the worst ||u - r|| / (u_p ||M||) of correct code was
1.2 (float64, a converged dW1 whose rel error is 1.7e-12) and 0.47 (float32). GROWTH = 64 puts that
at <= 1/50 of the bound. The planted mistakes of tests/gallery.py, judged at their own precision, were
all >= 1e3 times the bound except where the gradient itself is below the bound (a stationary point).
"""

import functools

import gallery
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import demo
from jaxbp.checking import compare
from jaxbp.checking.checker import check

DIMS, M = (4, 6, 6, 1), 200  # W2 is square: a transposed W2 is shape-correct


def teacher_problem(seed):
    rng = np.random.default_rng(seed)
    params = tuple(jaxbp.Layer(rng.standard_normal((n, n_prev)) * np.sqrt(2 / n_prev),
                               0.1 * rng.standard_normal((n, 1)))
                   for n_prev, n in zip(DIMS[:-1], DIMS[1:], strict=True))
    X = rng.standard_normal((DIMS[0], M))
    Y = (X[:1] * X[1:2] + 0.3 * X[2:3] > 0).astype(np.float64)  # learnable, not separable by a line
    return params, X, Y


@functools.cache
def stage(seed, iterations):
    """(params, X, Y) in float64 NumPy after `iterations` Adam steps of the mean cross-entropy."""
    params, X, Y = teacher_problem(seed)
    if iterations:
        params, _ = jaxbp.train(jax.tree.map(jnp.asarray, params), jnp.asarray(X), jnp.asarray(Y), hidden="relu",
                                output="sigmoid", optimizer="adam", learning_rate=0.01, num_iterations=iterations,
                                record_every=iterations)
        params = tuple(jaxbp.Layer(np.asarray(p.W), np.asarray(p.b)) for p in params)
    return params, X, Y


def as_dtype(params, X, Y, dtype, y_dtype=None):
    cast = lambda a, d=dtype: np.asarray(a, d)  # noqa: E731
    return tuple(jaxbp.Layer(cast(p.W), cast(p.b)) for p in params), cast(X), cast(Y, y_dtype or dtype)


@pytest.mark.parametrize("iterations", [0, 300, 3000])
def test_bound_never_flags_correct_code_at_init_mid_training_and_converged(iterations):
    worst = {}
    for seed in range(3):
        problem = stage(seed, iterations)
        for label, dtype, y_dtype in (("float64", np.float64, None), ("float32", np.float32, None),
                                      ("float32 returning float64", np.float32, np.float64)):
            for placement, start in (("deferred", "dZL"), ("absorbed", "dZL" if iterations else "dAL"),
                                     ("sum", "dZL")):  # trained, AL rounds to 1 and dAL = -(Y/AL - ...) is 0/0
                fn = functools.partial(gallery.backprop, xp=np, placement=placement, start=start)
                with np.errstate(over="ignore"):  # the course's 1/(1 + exp(-Z)) overflows harmlessly to 0
                    report = check(fn, *as_dtype(*problem, dtype, y_dtype), placement=placement)
                assert report.ok, str(report)
                worst[label] = max(worst.get(label, 0), *(r.bound_ratio for r in report.rows))
    assert max(worst.values()) < 1 / 20, worst  # measured <= 1.2 / GROWTH = 0.019 (module docstring)


def mistakes(m):
    """(label, backward_fn) of mistakes, each changing the gradient by a factor far from 1 at some layer."""
    def doubled(p, X, Y):
        g = gallery.backprop(p, X, Y, xp=np)
        return {**g, "dW2": 2 * g["dW2"]}

    def one_plus_one_over_m(p, X, Y):
        g = gallery.backprop(p, X, Y, xp=np)
        return {**g, "db1": (1 + 1 / m) * g["db1"]}

    def transposed(p, X, Y):
        g = gallery.backprop(p, X, Y, xp=np)
        return {**g, "dW2": g["dW2"].T}

    return [("2 dW2", doubled), ("(1 + 1/m) db1", one_plus_one_over_m), ("dW2.T", transposed),
            ("m-minus-1", functools.partial(gallery.backprop, xp=np, bug=("m-minus-1", None))),
            ("missing 1/m", functools.partial(gallery.backprop, xp=np, bug=("no-1/m", 3))),
            ("W2 not transposed", functools.partial(gallery.backprop, xp=np, bug=("W-not-transposed", 2)))]


@pytest.mark.parametrize("iterations", [0, 3000])
def test_bound_flags_every_mistake_also_at_a_converged_point(iterations):
    params, X, Y = stage(0, iterations)
    for label, fn in mistakes(M):
        with np.errstate(over="ignore"):
            report = check(fn, params, X, Y)
        assert not report.ok, (label, str(report))
        assert min(r.bound_ratio for r in report.wrong if r.bound_ratio is not None) > 1e3, (label, str(report))


def test_bound_float32_code_returning_float64_is_ok_with_a_note():
    # the course's NumPy code with float32 params and float64 labels: A - Y promotes, so the grads are float64
    params, X, Y = as_dtype(*stage(1, 300), np.float32, np.float64)
    report = check(functools.partial(gallery.backprop, xp=np), params, X, Y)
    assert report.ok and report.precision == "float32" and report.dtype == "float32", str(report)
    # and float64 params computed in float32 inside, returned as float64: float32 by evidence
    params64, X64, Y64 = stage(1, 300)

    def float32_inside(p, X, Y):
        g = gallery.backprop(*as_dtype(p, X, Y, np.float32), xp=np)
        return {k: v.astype(np.float64) for k, v in g.items()}

    report = check(float32_inside, params64, X64, Y64)
    assert report.ok and report.precision == "float32", str(report)
    assert any("computes in float32 somewhere although it returns float64" in n for n in report.notes), str(report)
    assert all(r.factor is None for r in report.rows)  # never a fitted "scale ≈ 1"


def _float32_inside(p, X, Y):
    """The course's backprop computed in float32, handed back as float64."""
    g = gallery.backprop(*as_dtype(p, X, Y, np.float32), xp=np)
    return {k: v.astype(np.float64) for k, v in g.items()}


def test_float32_by_evidence_needs_every_output_and_a_bound_that_resolves_it():
    from jaxbp.checking import reference

    params, X, Y = stage(1, 300)
    ref = reference.reference(params, X, Y, hidden="relu", output="sigmoid", placement="deferred")
    M = compare.magnitudes(params, X, Y, ref.Z, ref.A, hidden="relu", output="sigmoid", placement="deferred")
    f32, f64 = _float32_inside(params, X, Y), gallery.backprop(params, X, Y, xp=np)
    names = list(ref.grads)
    pairs = lambda got: [(got[n], ref.grads[n], M[n]) for n in names]  # noqa: E731
    assert compare.float32_by_evidence(pairs(f32))
    assert not compare.float32_by_evidence(pairs(f64))  # float64 code: no float32 rounding to see
    assert not compare.float32_by_evidence([])
    # one output with float32's rounding among float64 ones is a slip of float64 code, not float32 code
    assert not compare.float32_by_evidence(pairs({**f64, names[0]: f32[names[0]]}))
    # one output beyond float32's bound: a mistake, whatever the rest shows
    assert not compare.float32_by_evidence(pairs({**f32, names[0]: 1.01 * f32[names[0]]}))
    # float32 does not resolve an output whose terms are 1e8 times its size (a stationary point)
    assert not compare.float32_by_evidence([(f32[n], ref.grads[n], M[n] * (1e8 if n == names[0] else 1))
                                            for n in names])


def test_bound_float32_code_with_a_shape_mistake_is_judged_in_float32():
    # the evidence is every comparable gradient: one of the wrong shape does not turn the rest into float64 code
    params, X, Y = stage(1, 300)

    def db1_flat(p, X, Y):
        g = _float32_inside(p, X, Y)
        return {**g, "db1": g["db1"].ravel()}

    report = check(db1_flat, params, X, Y)
    assert report.precision == "float32" and [(r.name, r.kind) for r in report.wrong] == [("db1", "shape")], str(report)


def test_bound_float64_code_is_judged_in_float64_only():
    # a 1e-7 relative slip is far below float32's rounding but far above float64's: float64 code gets no excuse
    params, X, Y = stage(2, 0)

    def slipped(p, X, Y):
        g = gallery.backprop(p, X, Y, xp=np)
        return {**g, "dW1": g["dW1"] * (1 + 1e-7)}

    report = check(slipped, params, X, Y)
    assert not report.ok and [r.name for r in report.wrong] == ["dW1"] and report.precision == "float64", str(report)


def test_bound_magnitudes_dominate_the_quantities_they_bound():
    params, X, Y = stage(0, 300)
    from jaxbp.checking import reference

    ref = reference.reference(params, X, Y, hidden="relu", output="sigmoid", placement="deferred")
    M = compare.magnitudes(params, X, Y, ref.Z, ref.A, hidden="relu", output="sigmoid", placement="deferred")
    for name, r in ref.grads.items():
        assert np.all(M[name] >= np.abs(r) * (1 - 1e-12)), name
    for l in range(1, len(params) + 1):
        assert np.all(M[("dZ", l)] >= np.abs(ref.dZ[l - 1]) * (1 - 1e-12))
        assert np.all(M[("dA", l - 1)] >= np.abs(ref.dA[l - 1]) * (1 - 1e-12))


@pytest.mark.parametrize("iterations", [0, 3000, 10000])
def test_demo_is_verified_for_every_seed_and_iteration_count(iterations, capsys):
    for seed in range(4):
        assert demo.main(["--iterations", str(iterations), "--seed", str(seed)]) == 0, capsys.readouterr().out
        assert "verified" in capsys.readouterr().out
