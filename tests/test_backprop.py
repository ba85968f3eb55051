"""Hand-written backprop against jax.grad (float64), finite differences and worked numbers."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from problems import problem, random_dims
from refs import max_rel_error, rel_error, worst_bound_ratio

import jaxbp
from jaxbp import fast
from jaxbp.activations import HIDDEN, OUTPUTS

# Ng's metric per parameter, worst over the matrix of test_backward_matches_jax_grad, measured on its
# shapes: float64 2.2e-14 (tanh/softmax/dZL/sum, depth 5), float32 6.8e-6 (tanh/softmax/dAL/deferred,
# depth 5); over other random shapes 7.4e-15 and 1.7e-6. The house bound 1e-13 holds for float64; float32
# gets 2e-5, three times the measured worst, for other shapes and XLA builds' reduction orders.
TOL = {jnp.float64: 1e-13, jnp.float32: 2e-5}

PLACEMENTS = ("deferred", "absorbed", "sum")
PAIRS = [(o, s) for o in OUTPUTS for s in ("dZL", "dAL") if not (o == "tanh" and s == "dZL")]
DEPTHS = range(1, 6)
# The matrix's shapes: depth d has layer_dims WIDTHS[:d] + (N_Y,) and m = M, so layer l has one shape at every
# depth. The matrix runs eagerly: eager kernels compile once per (op, shape) and are then shared by all 1050
# configurations (measured, one process: 36 s of CPU for the whole matrix; 80 s with a new random shape per
# depth; jitting each (hidden, output, dtype) with all its configurations costs 2-4 s of compile each, 84-170 s).
# The other eager tests use the depth-3 shape (5, 3, 4, 3), m = 23, too (in the same worker, compiled once).
WIDTHS, N_Y, M = (5, 3, 4, 1, 6), 3, 23  # a width of 1 from depth 4, and m = 23 not a power of two (1/m inexact)


def matrix_problem(depth, *, hidden, output="sigmoid", dtype=jnp.float64, seed=None, zero_column=True):
    return problem(depth if seed is None else seed, WIDTHS[:depth] + (N_Y,), M, hidden=hidden, output=output,
                   dtype=dtype, zero_column=zero_column)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_backward_matches_jax_grad(dtype):
    # every configuration: 5 hidden x 7 (output, start) x 3 placements x depths 1..5, per dtype, judged by
    # compare's bound in the dtype's precision against jax.grad in float64 at the same (rounded) inputs.
    # Measured worst ||u - r|| / bound: float64 0.036, float32 0.019 at XLA's defaults; 0.031 and 0.018 at its
    # level 0 (conftest's QUICK_XLA), where the fixed TOL above no longer held (float32 2.4e-5 > 2e-5).
    precision = np.dtype(dtype).name
    failures, worst = [], 0.0
    for hidden, output, depth in itertools.product(HIDDEN, OUTPUTS, DEPTHS):
        params, X, Y = matrix_problem(depth, hidden=hidden, output=output, dtype=dtype)
        AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
        exact = [jax.tree.map(lambda a: np.asarray(a, np.float64), t) for t in (params, X, Y)]
        mean = jaxbp.autodiff_grads(*exact, hidden=hidden, output=output)
        ref = {"mean": mean, "sum": jax.tree.map(lambda g: g * X.shape[1], mean)}  # exact to u_64 |g|
        for start, placement in itertools.product(("dZL", "dAL"), PLACEMENTS):
            if (output, start) not in PAIRS:
                continue
            grads = jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output, placement=placement,
                                   start=start)
            assert jax.tree.structure(grads) == jax.tree.structure(params)
            assert all(g.dtype == dtype for g in jax.tree.leaves(grads))
            ratio = worst_bound_ratio(grads, ref[jaxbp.reduction_for(placement)], *exact, hidden=hidden,
                                      output=output, placement=placement, precision=precision)
            worst = max(worst, ratio)
            if not ratio <= 1:
                failures.append((hidden, output, start, placement, depth, ratio))
    assert not failures, failures
    print(f"worst ||u - r|| / bound in {precision}: {worst:.2g}")


JIT_OPTIONS = {"xla_backend_optimization_level": 0}  # test-only jits: compile ~2x faster (measured), same math


@functools.partial(jax.jit, static_argnames=("hidden", "output"), compiler_options=JIT_OPTIONS)
def every_placement_and_start(params, X, Y, *, hidden, output):
    """The hand-written grads for every (start, placement) and jax.grad of the mean and sum costs, in one jit."""
    AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
    hand = {(s, p): jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output, placement=p, start=s)
            for s in ("dZL", "dAL") if (output, s) in PAIRS for p in PLACEMENTS}
    return hand, {r: jaxbp.autodiff_grads(params, X, Y, hidden=hidden, output=output, reduction=r)
                  for r in ("mean", "sum")}


@pytest.mark.parametrize("output", OUTPUTS)
def test_backward_matches_jax_grad_under_jit(output):
    params, X, Y = matrix_problem(3, hidden="leaky_relu", output=output, seed=11)
    hand, ref = every_placement_and_start(params, X, Y, hidden="leaky_relu", output=output)
    for (start, placement), grads in hand.items():
        assert max_rel_error(grads, ref[jaxbp.reduction_for(placement)]) <= TOL[jnp.float64], (start, placement)


@pytest.mark.parametrize(("output", "start"), PAIRS)
def test_backward_matches_jax_grad_eager(output, start):
    params, X, Y = matrix_problem(3, hidden="leaky_relu", output=output, seed=11)
    AL, caches = jaxbp.forward(params, X, hidden="leaky_relu", output=output)
    for placement in PLACEMENTS:
        grads = jaxbp.backward(params, caches, AL, Y, hidden="leaky_relu", output=output, placement=placement,
                               start=start)
        ref = jaxbp.autodiff_grads(params, X, Y, hidden="leaky_relu", output=output,
                                   reduction=jaxbp.reduction_for(placement))
        assert max_rel_error(grads, ref) <= TOL[jnp.float64]


@functools.partial(jax.jit, static_argnames=("hidden", "output", "placement", "start"), compiler_options=JIT_OPTIONS)
def hand_and_reference(params, X, Y, *, hidden, output, placement, start):
    AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
    hand = jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output, placement=placement, start=start)
    return hand, jaxbp.autodiff_grads(params, X, Y, hidden=hidden, output=output,
                                      reduction=jaxbp.reduction_for(placement))


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(1, 5), m=st.integers(1, 50), seed=st.integers(0, 2**31 - 1),
       hidden=st.sampled_from(HIDDEN), pair=st.sampled_from(PAIRS), placement=st.sampled_from(PLACEMENTS))
def test_backward_matches_jax_grad_random_shapes(depth, m, seed, hidden, pair, placement):
    output, start = pair
    dims = random_dims(seed, depth, output=output)
    params, X, Y = problem(seed, dims, m, hidden=hidden, output=output, zero_column=seed % 2 == 0)
    grads, ref = hand_and_reference(params, X, Y, hidden=hidden, output=output, placement=placement, start=start)
    assert max_rel_error(grads, ref) <= TOL[jnp.float64]


@functools.partial(jax.jit, compiler_options=JIT_OPTIONS)
def deferred_and_absorbed(params, X, Y):
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    return tuple(jaxbp.backward(params, caches, AL, Y, hidden="tanh", output="sigmoid", placement=p)
                 for p in ("deferred", "absorbed"))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("m", [1, 8, 64, 256])
def test_placements_bit_identical_when_m_is_a_power_of_two(key, m, dtype):
    params, X, Y = problem(key, (6, 5, 4, 1), m, hidden="tanh", dtype=dtype, zero_column=False)
    deferred, absorbed = deferred_and_absorbed(params, X, Y)  # jitted: one compile per shape, not one per op
    for d, a in zip(jax.tree.leaves(deferred), jax.tree.leaves(absorbed), strict=True):
        np.testing.assert_array_equal(np.asarray(d), np.asarray(a))  # dividing by 2^k is exact


def test_placements_agree_and_sum_is_m_times_mean():
    m = M  # not a power of two: equal to rounding, not bitwise
    params, X, Y = matrix_problem(3, hidden="relu", seed=12)
    AL, caches = jaxbp.forward(params, X, hidden="relu")
    grads = {p: jaxbp.backward(params, caches, AL, Y, hidden="relu", output="sigmoid", placement=p) for p in PLACEMENTS}
    assert max_rel_error(grads["deferred"], grads["absorbed"]) <= 1e-15
    assert max_rel_error(jax.tree.map(lambda g: g / m, grads["sum"]), grads["deferred"]) <= 1e-15


def cost_from_Z(params, Zl, l, Y, *, hidden, output, reduction):
    """J as a function of Z[l] alone: the forward pass continued from layer l."""
    L = len(params)
    Z = Zl
    for k in range(l, L):
        A = jaxbp.activations.g(hidden)(Z)
        Z = params[k].W @ A + params[k].b
    return jaxbp.costs.reduce(jaxbp.loss_from_logits(Z, Y, output=output), reduction=reduction)


@pytest.mark.parametrize("start", ["dZL", "dAL"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_dZ_is_per_example_dL_dZ_deferred_and_dJ_dZ_absorbed(output, start):
    params, X, Y = matrix_problem(3, hidden="tanh", output=output, seed=13)
    AL, caches = jaxbp.forward(params, X, hidden="tanh", output=output)
    kw = dict(hidden="tanh", output=output, start=start, intermediates=True)
    _, deferred = jaxbp.backward(params, caches, AL, Y, placement="deferred", **kw)
    _, absorbed = jaxbp.backward(params, caches, AL, Y, placement="absorbed", **kw)
    for l in range(1, 4):
        Zl = caches[l - 1].Z
        dL_dZ = jax.grad(cost_from_Z, argnums=1)(params, Zl, l, Y, hidden="tanh", output=output, reduction="sum")
        dJ_dZ = jax.grad(cost_from_Z, argnums=1)(params, Zl, l, Y, hidden="tanh", output=output, reduction="mean")
        # column i of d(sum L)/dZ is example i's own dL(i)/dZ(i): the losses do not mix columns
        assert rel_error(deferred[l - 1].dZ, dL_dZ) <= 1e-14
        assert rel_error(absorbed[l - 1].dZ, dJ_dZ) <= 1e-14
        np.testing.assert_allclose(deferred[l - 1].dZ / M, absorbed[l - 1].dZ, rtol=1e-13, atol=1e-18)


def test_dA0_is_the_gradient_wrt_X():
    params, X, Y = matrix_problem(3, hidden="sigmoid", seed=14)
    AL, caches = jaxbp.forward(params, X, hidden="sigmoid")
    _, steps = jaxbp.backward(params, caches, AL, Y, hidden="sigmoid", output="sigmoid", placement="sum",
                              intermediates=True)
    dX = jax.grad(lambda X: jaxbp.cost(params, X, Y, hidden="sigmoid", reduction="sum"))(X)
    assert rel_error(steps[0].dA_prev, dX) <= 1e-14


def test_dAL_start_nonfinite_where_sigmoid_saturates_and_dZL_stays_finite():
    # One layer, W = 1, b = 0, so Z[L] = X. In float32 sigmoid(17) rounds to 1: 1 - AL = 0.
    kw = dict(hidden="relu", output="sigmoid")
    for z in (17.0, 30.0, 1e4):
        params = (jaxbp.Layer(jnp.ones((1, 1), jnp.float32), jnp.zeros((1, 1), jnp.float32)),)
        X, Y = jnp.full((1, 1), z, jnp.float32), jnp.zeros((1, 1), jnp.float32)
        AL, caches = jaxbp.forward(params, X, **kw)
        assert float(AL[0, 0]) == 1.0
        via_dAL = jaxbp.backward(params, caches, AL, Y, **kw, start="dAL")
        via_dZL = jaxbp.backward(params, caches, AL, Y, **kw, start="dZL")
        assert not np.isfinite(np.asarray(via_dAL[0].W)).all()  # dAL = (1 - Y)/(1 - AL) = 1/0
        np.testing.assert_array_equal(np.asarray(via_dZL[0].W), [[z]])  # (AL - Y) * X = 1 * z
        assert np.isfinite(float(jaxbp.cost(params, X, Y, **kw)))  # softplus(z) = z
    # and below the saturation both starts agree
    params = (jaxbp.Layer(jnp.ones((1, 1), jnp.float32), jnp.zeros((1, 1), jnp.float32)),)
    X, Y = jnp.full((1, 1), 5.0, jnp.float32), jnp.zeros((1, 1), jnp.float32)
    AL, caches = jaxbp.forward(params, X, **kw)
    a = jaxbp.backward(params, caches, AL, Y, **kw, start="dAL")
    b = jaxbp.backward(params, caches, AL, Y, **kw, start="dZL")
    assert rel_error(a[0].W, b[0].W) <= 1e-6


WRONG = {
    "one_over_m_twice": lambda g, m: jax.tree.map(lambda x: x / m, g),
    "db_without_one_over_m": lambda g, m: tuple(jaxbp.Layer(l.W, m * l.b) for l in g),
}


@pytest.mark.parametrize("mistake", sorted(WRONG))
def test_comparison_catches_a_wrong_backprop(mistake):
    params, X, Y = matrix_problem(3, hidden="tanh", seed=15)
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    right = jaxbp.backward(params, caches, AL, Y, hidden="tanh", output="sigmoid")
    ref = jaxbp.autodiff_grads(params, X, Y, hidden="tanh")
    assert max_rel_error(right, ref) <= TOL[jnp.float64]
    assert max_rel_error(WRONG[mistake](right, M), ref) > 0.1


def test_comparison_catches_the_wrong_activation_derivative():
    # backward refuses tanh caches with hidden="sigmoid" (below), so the wrong loop is written out here
    params, X, Y = matrix_problem(3, hidden="tanh", seed=16)
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    dZ, wrong = AL - Y, []
    for l in (3, 2, 1):
        dA_prev, dW, db = jaxbp.linear_backward(dZ, caches[l - 1].A_prev, params[l - 1].W)
        wrong.insert(0, jaxbp.Layer(dW, db))
        if l > 1:
            dZ = jaxbp.activation_backward(dA_prev, caches[l - 2].Z, activation="sigmoid")  # sigmoid' on a tanh net
    assert max_rel_error(wrong, jaxbp.autodiff_grads(params, X, Y, hidden="tanh")) > 0.1


def test_backward_refuses_caches_from_another_activation_or_params():
    params, X, Y = matrix_problem(3, hidden="tanh", seed=17, zero_column=False)
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    for hidden in ("relu", "sigmoid", "identity", "leaky_relu"):
        with pytest.raises(ValueError, match=rf"caches\[1\].A_prev \(A\[1\]\) is not g\(Z\) for hidden='{hidden}'"):
            jaxbp.backward(params, caches, AL, Y, hidden=hidden, output="sigmoid")
    with pytest.raises(ValueError, match=r"AL is not g\(Z\) for output='identity'"):
        jaxbp.backward(params, caches, AL, Y, hidden="tanh", output="identity")
    other = tuple(jaxbp.Layer(1.01 * p.W, p.b) for p in params)
    with pytest.raises(ValueError, match=r"caches\[0\].Z is not Z\[1\] = W\[1\] A\[0\] \+ b\[1\] for these params"):
        jaxbp.backward(other, caches, AL, Y, hidden="tanh", output="sigmoid")
    with pytest.raises(TypeError, match="hidden"):
        jaxbp.backward(params, caches, AL, Y, output="sigmoid")  # no default: it must be the forward's


def test_cache_checks_run_under_jit_with_debug_inside_checkify():
    params, X, Y = matrix_problem(3, hidden="tanh", seed=17, zero_column=False)

    def step(params, X, Y, hidden_in_backward):
        AL, caches = jaxbp.forward(params, X, hidden="tanh", debug=True)
        return jaxbp.backward(params, caches, AL, Y, hidden=hidden_in_backward, output="sigmoid", debug=True)

    checked = checkify.checkify(jax.jit(step, static_argnums=3), errors=checkify.user_checks)
    err, _ = checked(params, X, Y, "tanh")
    err.throw()  # consistent: no error
    err, _ = checked(params, X, Y, "relu")
    with pytest.raises(ValueError, match=r"is not g\(Z\) for hidden='relu'"):
        err.throw()
    # without debug, under jit, the values are not checked: the mismatch passes silently (documented)
    def unchecked(params, X, Y):
        AL, caches = jaxbp.forward(params, X, hidden="tanh")
        return jaxbp.backward(params, caches, AL, Y, hidden="relu", output="sigmoid")

    silent = jax.jit(unchecked)
    assert np.isfinite(np.asarray(silent(params, X, Y)[0].W)).all()


@pytest.mark.parametrize(("hidden", "output"), [("tanh", "sigmoid"), ("sigmoid", "softmax"), ("tanh", "identity")])
def test_backward_matches_finite_differences(key, hidden, output):
    params, X, Y = problem(key, (3, 4, 3), 8, hidden=hidden, output=output, zero_column=False)
    AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
    grads = jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output)
    h = np.finfo(np.float64).eps ** (1 / 3)  # central differences: truncation h^2 ~ rounding eps/h
    J = jax.jit(lambda p: jaxbp.cost(p, X, Y, hidden=hidden, output=output))  # one compile, not one eager pass per bump
    leaves, treedef = jax.tree.flatten(params)
    errors = []
    for i, leaf in enumerate(leaves):
        fd = np.zeros(leaf.shape)
        for idx in itertools.product(*map(range, leaf.shape)):
            def bumped(delta, i=i, idx=idx):
                bumped = [x.at[idx].add(delta) if j == i else x for j, x in enumerate(leaves)]
                return jax.tree.unflatten(treedef, bumped)
            fd[idx] = (float(J(bumped(h))) - float(J(bumped(-h)))) / (2 * h)
        errors.append(rel_error(jax.tree.leaves(grads)[i], fd))
    assert max(errors) <= 1e-8  # measured worst 2.3e-10 (sigmoid/softmax), h^2 truncation + eps/h rounding


def test_two_layer_backward_worked_by_hand():
    # n = (1, 1, 1), identity hidden, identity output, m = 2, J = (1/2m) sum (a - y)^2.
    # W1 = 2, b1 = 0, W2 = 3, b2 = 1; X = [1, 2], Y = [0, 10].
    # Z1 = [2, 4], A1 = Z1, Z2 = 3 A1 + 1 = [7, 13], dZ2 = AL - Y = [7, 3]
    # dW2 = (1/2)(7*2 + 3*4) = 13, db2 = (1/2)(7 + 3) = 5
    # dA1 = W2 dZ2 = [21, 9] = dZ1;  dW1 = (1/2)(21*1 + 9*2) = 19.5, db1 = (1/2)(21 + 9) = 15
    f = jnp.float64
    params = (jaxbp.Layer(jnp.array([[2.0]], f), jnp.array([[0.0]], f)),
              jaxbp.Layer(jnp.array([[3.0]], f), jnp.array([[1.0]], f)))
    X, Y = jnp.array([[1.0, 2.0]], f), jnp.array([[0.0, 10.0]], f)
    AL, caches = jaxbp.forward(params, X, hidden="identity", output="identity")
    grads, steps = jaxbp.backward(params, caches, AL, Y, hidden="identity", output="identity", intermediates=True)
    assert [np.asarray(x).item() for x in jax.tree.leaves(grads)] == [19.5, 15.0, 13.0, 5.0]
    np.testing.assert_array_equal(steps[1].dZ, [[7.0, 3.0]])
    np.testing.assert_array_equal(steps[0].dA_prev, [[42.0, 18.0]])  # dA0 = W1 dZ1 = 2 * [21, 9]


def test_two_layer_l2_and_dropout_worked_by_hand():
    # The network above with lambd = 2 and D1 = [1, 0], keep_prob = 1/2: A1 = Z1 * D1 / (1/2) = [4, 0].
    # Z2 = 3 A1 + 1 = [13, 1], dZ2 = AL - Y = [13, -9]
    # dW2 = (1/2)(13*4 + -9*0) + (2/2) 3 = 29, db2 = (1/2)(13 - 9) = 2
    # dA1 = W2 dZ2 = [39, -27], times D1 / (1/2): [78, 0] = dZ1;  dW1 = (1/2)(78*1) + (2/2) 2 = 41, db1 = 39
    f = jnp.float64
    params = (jaxbp.Layer(jnp.array([[2.0]], f), jnp.array([[0.0]], f)),
              jaxbp.Layer(jnp.array([[3.0]], f), jnp.array([[1.0]], f)))
    X, Y = jnp.array([[1.0, 2.0]], f), jnp.array([[0.0, 10.0]], f)
    kw = dict(hidden="identity", output="identity", keep_prob=0.5)
    AL, caches = jaxbp.forward(params, X, **kw, masks=(jnp.array([[1.0, 0.0]], f),))
    np.testing.assert_array_equal(caches[1].A_prev, [[4.0, 0.0]])
    grads = jaxbp.backward(params, caches, AL, Y, **kw, lambd=2.0)
    assert [np.asarray(x).item() for x in jax.tree.leaves(grads)] == [41.0, 39.0, 29.0, 2.0]


def test_linear_backward_returns_course_order_and_placement_scaling():
    rng = np.random.default_rng(0)
    dZ, A_prev, W = (jnp.asarray(rng.normal(size=s)) for s in ((3, 8), (5, 8), (3, 5)))
    dA_prev, dW, db = jaxbp.linear_backward(dZ, A_prev, W)
    np.testing.assert_allclose(dW, np.asarray(dZ) @ np.asarray(A_prev).T / 8, rtol=1e-14)
    np.testing.assert_allclose(db, np.asarray(dZ).sum(1, keepdims=True) / 8, rtol=1e-14)
    np.testing.assert_allclose(dA_prev, np.asarray(W).T @ np.asarray(dZ), rtol=1e-14)
    _, dW_sum, db_sum = jaxbp.linear_backward(dZ, A_prev, W, placement="sum")
    np.testing.assert_allclose(dW_sum, 8 * dW, rtol=1e-14)
    np.testing.assert_allclose(db_sum, 8 * db, rtol=1e-14)
    for typo in ("Deferred", "bogus", None):  # once silently returned the sum's dW, m times too large
        with pytest.raises(ValueError, match=r"placement must be one of 'deferred', 'absorbed', 'sum'"):
            jaxbp.linear_backward(dZ, A_prev, W, placement=typo)


def test_mask_and_global_m_give_the_gradient_of_the_unpadded_batch():
    params, X, Y = matrix_problem(3, hidden="relu", seed=19)
    Xp, Yp = jnp.pad(X, ((0, 0), (0, 5))), jnp.pad(Y, ((0, 0), (0, 5)))
    mask = (jnp.arange(M + 5) < M)[None, :].astype(X.dtype)
    ref = jaxbp.autodiff_grads(params, X, Y, hidden="relu")
    AL, caches = jaxbp.forward(params, Xp, hidden="relu")
    for placement in ("deferred", "absorbed"):
        grads = jaxbp.backward(params, caches, AL, Yp, hidden="relu", output="sigmoid", placement=placement, m=M,
                               mask=mask)
        assert max_rel_error(grads, ref) <= 1e-14
    masked = jaxbp.autodiff_grads(params, Xp, Yp, hidden="relu", m=M, mask=mask)
    assert max_rel_error(masked, ref) <= 1e-14


def test_padded_columns_never_leak_nan():
    # Under jit values are not checked, so a NaN label in a padded column reaches the loss and dZ[L]:
    # the mask drops it with jnp.where (it once multiplied by 0, and NaN * 0 = NaN).
    params, X, Y = matrix_problem(3, hidden="relu", seed=19)
    Xp, Yp = jnp.pad(X, ((0, 0), (0, 5))), jnp.pad(Y, ((0, 0), (0, 5)), constant_values=np.nan)
    mask = (jnp.arange(M + 5) < M)[None, :].astype(X.dtype)
    ref = jaxbp.autodiff_grads(params, X, Y, hidden="relu")

    @jax.jit
    def padded(params, Xp, Yp, mask):
        AL, caches = jaxbp.forward(params, Xp, hidden="relu")
        hand = jaxbp.backward(params, caches, AL, Yp, hidden="relu", output="sigmoid", m=M, mask=mask)
        J = jaxbp.cost(params, Xp, Yp, hidden="relu", m=M, mask=mask)
        return hand, J, jaxbp.autodiff_grads(params, Xp, Yp, hidden="relu", m=M, mask=mask)

    hand, J, auto = padded(params, Xp, Yp, mask)
    assert float(J) == pytest.approx(float(jaxbp.cost(params, X, Y, hidden="relu")), rel=1e-14)
    assert max_rel_error(hand, ref) <= 1e-14 and max_rel_error(auto, ref) <= 1e-14


@pytest.mark.parametrize("placement", ["deferred", "absorbed"])
def test_float16_gradients_survive_m_above_65504(key, placement):
    # float16 holds at most 65504: a 16-bit m would be Inf and every 1/m-scaled gradient 0.
    m = 100_000
    params, X, Y = problem(key, (3, 4, 1), m, hidden="tanh", dtype=jnp.float64, zero_column=False)
    ref = jax.jit(lambda p, X, Y: jaxbp.autodiff_grads(p, X, Y, hidden="tanh"))(params, X, Y)
    p16, X16, Y16 = jax.tree.map(lambda a: a.astype(jnp.float16), (params, X, Y))

    @jax.jit
    def grads_and_cost(p16, X16, Y16):
        AL, caches = jaxbp.forward(p16, X16, hidden="tanh")
        grads = jaxbp.backward(p16, caches, AL, Y16, hidden="tanh", output="sigmoid", placement=placement)
        return grads, jaxbp.cost(p16, X16, Y16, hidden="tanh")

    grads, J = grads_and_cost(p16, X16, Y16)
    assert max_rel_error(grads, ref) < 0.05  # float16 sums over 1e5 terms: measured ~1e-2
    assert np.isfinite(float(J))


@functools.partial(jax.jit, compiler_options=JIT_OPTIONS)
def float16_grads(params, X, Y):
    """{(layout, placement): grads} from fast.cost_and_grads, and the core's own backward (deferred), in one jit."""
    kw = dict(hidden="tanh", output="sigmoid", grads_from="backprop", start="dZL")
    out = {(layout, p): fast.cost_and_grads(params, *((X, Y) if layout == "columns" else (X.T, Y.T)), layout=layout,
                                             placement=p, **kw)[1]
           for layout in ("columns", "rows") for p in PLACEMENTS}
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    return out, jaxbp.backward(params, caches, AL, Y, hidden="tanh", output="sigmoid")


def assert_equal_to_float16_rounding(a, b):
    """Bitwise where not finite; elsewhere within one float16 eps (2^-10) of the leaf's largest entry. Only dW[1],
    the (4, 3) product over m examples, differs at all: measured 3.3e-5 (deferred, sum) and 6.6e-5 (absorbed) at
    m = 2^16, 5.4e-4 for absorbed at 2^18, whose dZ / m is subnormal in float16; every other leaf is bitwise equal."""
    finite = np.isfinite(b)
    np.testing.assert_array_equal(np.isfinite(a), finite)
    np.testing.assert_array_equal(a[~finite], b[~finite])
    if finite.any():
        assert np.max(np.abs(a - b)[finite]) <= 2**-10 * np.max(np.abs(b[finite]))


@pytest.mark.parametrize("m", [2**16, 2**18])
def test_float16_rows_and_columns_have_each_placements_numerics(key, m):
    # "deferred" is (1/m)(dZ A_prev.T): the float16 product of 2^18 examples overflows before the 1/m, in
    # both layouts; "absorbed" scales dZ[L] before. The rows once scaled dZT first for deferred: absorbed's
    # numerics (issue 9: 1.66e-4 instead of 1.23e-4 at m = 2^16, finite at 2^18 where the columns overflowed).
    params, X, Y = problem(key, (3, 4, 1), m, hidden="tanh", dtype=jnp.float16, zero_column=False)
    Y = jnp.ones_like(Y)  # dZ[L] = AL - 1 < 0 in every column: the sums grow with m
    grads, core = float16_grads(params, X, Y)
    for placement in PLACEMENTS:
        columns, rows = jax.tree.leaves(grads["columns", placement]), jax.tree.leaves(grads["rows", placement])
        for c, r in zip(columns, rows, strict=True):
            assert_equal_to_float16_rounding(np.asarray(r, np.float64), np.asarray(c, np.float64))
    finite = {p: all(np.isfinite(np.asarray(g, np.float64)).all() for g in jax.tree.leaves(grads["columns", p]))
              for p in PLACEMENTS}
    assert finite["deferred"] == (m < 2**17)  # db[2] = (1/m) sum_i (AL - 1) ~ (1/m)(-m/2): -131072 is Inf in float16
    assert finite["absorbed"]
    for a, b in zip(jax.tree.leaves(core), jax.tree.leaves(grads["columns", "deferred"]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # one loop: the columns are the core's backward


@pytest.mark.parametrize(("hidden", "output"), [("relu", "sigmoid"), ("tanh", "softmax"), ("leaky_relu", "identity")])
def test_backward_with_l2_and_dropout_matches_jax_grad(hidden, output):
    # eager, where the caches are also checked against keep_prob and the masks D (cheaper than a jit per case)
    params, X, Y = matrix_problem(3, hidden=hidden, output=output, seed=7, zero_column=False)
    masks = jaxbp.model.dropout_masks(jax.random.key(1), params, M, keep_prob=0.7)
    for lambd, keep_prob in ((0.7, 1.0), (0.0, 0.7), (0.7, 0.7)):  # L2 alone, dropout alone, both
        kw = dict(hidden=hidden, output=output, keep_prob=keep_prob)
        ms = masks if keep_prob < 1 else None
        AL, caches = jaxbp.forward(params, X, **kw, masks=ms)
        for placement in PLACEMENTS:
            hand = jaxbp.backward(params, caches, AL, Y, **kw, placement=placement, lambd=lambd)
            ref = jaxbp.autodiff_grads(params, X, Y, **kw, masks=ms, lambd=lambd,
                                       reduction=jaxbp.reduction_for(placement))
            assert max_rel_error(hand, ref) <= TOL[jnp.float64], (lambd, keep_prob, placement)
    with pytest.raises(ValueError, match="keep_prob"):
        jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output, keep_prob=0.5)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_backward_with_l2_and_dropout_matches_jax_grad_under_jit(placement):
    params, X, Y = matrix_problem(3, hidden="relu", seed=7, zero_column=False)
    masks = jaxbp.model.dropout_masks(jax.random.key(1), params, M, keep_prob=0.7)

    @jax.jit
    def pair(params, X, Y, masks, lambd, keep_prob):  # traced lambd and keep_prob
        AL, caches = jaxbp.forward(params, X, hidden="relu", keep_prob=keep_prob, masks=masks)
        hand = jaxbp.backward(params, caches, AL, Y, hidden="relu", output="sigmoid", placement=placement,
                              lambd=lambd, keep_prob=keep_prob)
        return hand, jaxbp.autodiff_grads(params, X, Y, hidden="relu", masks=masks, lambd=lambd, keep_prob=keep_prob,
                                          reduction=jaxbp.reduction_for(placement))

    hand, ref = pair(params, X, Y, masks, 0.7, 0.7)
    assert max_rel_error(hand, ref) <= TOL[jnp.float64]


def test_l2_gradient_term_per_placement():
    # absorbed adds (lambd/m) W too: L2's term is a gradient of J, not part of dZ[L]
    params, X, Y = matrix_problem(3, hidden="tanh", seed=18, zero_column=False)
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    for placement, scale in (("deferred", 0.5 / M), ("absorbed", 0.5 / M), ("sum", 0.5)):
        kw = dict(hidden="tanh", output="sigmoid", placement=placement)
        plain = jaxbp.backward(params, caches, AL, Y, **kw)
        with_l2 = jaxbp.backward(params, caches, AL, Y, **kw, lambd=0.5)
        for p, a, b in zip(params, plain, with_l2, strict=True):
            np.testing.assert_allclose(b.W - a.W, scale * p.W, rtol=1e-12)
            np.testing.assert_array_equal(b.b, a.b)  # biases are not regularized
