"""Hand-written backprop against jax.grad (float64), finite differences and worked numbers."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from problems import problem, random_dims
from refs import max_rel_error, rel_error

import jaxbp
from jaxbp.activations import HIDDEN, OUTPUTS

# Ng's metric per parameter, worst over the matrix of test_backward_matches_jax_grad (measured on the
# shapes below: float64 2.0e-15 at tanh/sigmoid/dAL/absorbed/depth 2; float32 5.0e-6 at
# leaky_relu/identity/deferred/depth 2, where identity output's dZ[L] = AL - Y cancels; over other random
# shapes 7.4e-15 and 1.7e-6). The house bound 1e-13 holds for float64; float32 gets 2e-5, four times
# the measured worst, for other shapes and XLA builds' reduction orders.
TOL = {jnp.float64: 1e-13, jnp.float32: 2e-5}

PAIRS = [(o, s) for o in OUTPUTS for s in ("dZL", "dAL") if not (o == "tanh" and s == "dZL")]


def hand_and_reference(params, X, Y, *, hidden, output, placement, start, jit=False):
    def hand(params, X, Y):
        AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
        return jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output, placement=placement, start=start)

    reduction = jaxbp.reduction_for(placement)
    ref = jaxbp.autodiff_grads(params, X, Y, hidden=hidden, output=output, reduction=reduction)
    return (jax.jit(hand) if jit else hand)(params, X, Y), ref


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
@pytest.mark.parametrize("placement", ["deferred", "absorbed", "sum"])
@pytest.mark.parametrize(("output", "start"), PAIRS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backward_matches_jax_grad(key, hidden, output, start, placement, dtype):
    for depth in range(1, 6):
        # one random shape per depth, shared by every configuration: eager ops compile once per shape
        dims = random_dims(depth, depth, output=output)
        m = 3 + 7 * depth
        params, X, Y = problem(jax.random.fold_in(key, depth), dims, m, hidden=hidden, output=output, dtype=dtype)
        grads, ref = hand_and_reference(params, X, Y, hidden=hidden, output=output, placement=placement, start=start)
        assert jax.tree.structure(grads) == jax.tree.structure(params)
        assert all(g.dtype == dtype for g in jax.tree.leaves(grads))
        assert max_rel_error(grads, ref) <= TOL[dtype], (dims, m)


@pytest.mark.parametrize(("output", "start"), PAIRS)
@pytest.mark.parametrize("placement", ["deferred", "absorbed", "sum"])
def test_backward_matches_jax_grad_under_jit(key, output, start, placement):
    params, X, Y = problem(key, (4, 5, 3, 3), 16, hidden="leaky_relu", output=output)
    grads, ref = hand_and_reference(params, X, Y, hidden="leaky_relu", output=output, placement=placement,
                                    start=start, jit=True)
    assert max_rel_error(grads, ref) <= TOL[jnp.float64]


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(1, 5), m=st.integers(1, 50), seed=st.integers(0, 2**31 - 1),
       hidden=st.sampled_from(HIDDEN), pair=st.sampled_from(PAIRS), placement=st.sampled_from(["deferred", "absorbed", "sum"]))
def test_backward_matches_jax_grad_random_shapes(depth, m, seed, hidden, pair, placement):
    output, start = pair
    dims = random_dims(seed, depth, output=output)
    params, X, Y = problem(jax.random.key(seed), dims, m, hidden=hidden, output=output, zero_column=seed % 2 == 0)
    grads, ref = hand_and_reference(params, X, Y, hidden=hidden, output=output, placement=placement, start=start)
    assert max_rel_error(grads, ref) <= TOL[jnp.float64]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("m", [1, 8, 64, 256])
def test_placements_bit_identical_when_m_is_a_power_of_two(key, m, dtype):
    params, X, Y = problem(key, (6, 5, 4, 1), m, hidden="tanh", dtype=dtype, zero_column=False)
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    deferred = jaxbp.backward(params, caches, AL, Y, hidden="tanh", placement="deferred")
    absorbed = jaxbp.backward(params, caches, AL, Y, hidden="tanh", placement="absorbed")
    for d, a in zip(jax.tree.leaves(deferred), jax.tree.leaves(absorbed), strict=True):
        np.testing.assert_array_equal(np.asarray(d), np.asarray(a))  # dividing by 2^k is exact


def test_placements_agree_and_sum_is_m_times_mean(key):
    m = 37  # not a power of two: equal to rounding, not bitwise
    params, X, Y = problem(key, (6, 5, 4, 1), m, hidden="relu")
    AL, caches = jaxbp.forward(params, X, hidden="relu")
    grads = {p: jaxbp.backward(params, caches, AL, Y, hidden="relu", placement=p) for p in ("deferred", "absorbed", "sum")}
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
def test_dZ_is_per_example_dL_dZ_deferred_and_dJ_dZ_absorbed(key, output, start):
    params, X, Y = problem(key, (5, 6, 4, 3), 24, hidden="tanh", output=output)
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
        np.testing.assert_allclose(deferred[l - 1].dZ / 24, absorbed[l - 1].dZ, rtol=1e-13, atol=1e-18)


def test_dA0_is_the_gradient_wrt_X(key):
    params, X, Y = problem(key, (4, 5, 1), 10, hidden="sigmoid")
    AL, caches = jaxbp.forward(params, X, hidden="sigmoid")
    _, steps = jaxbp.backward(params, caches, AL, Y, hidden="sigmoid", placement="sum", intermediates=True)
    dX = jax.grad(lambda X: jaxbp.cost(params, X, Y, hidden="sigmoid", reduction="sum"))(X)
    assert rel_error(steps[0].dA_prev, dX) <= 1e-14


def test_dAL_start_nonfinite_where_sigmoid_saturates_and_dZL_stays_finite():
    # One layer, W = 1, b = 0, so Z[L] = X. In float32 sigmoid(17) rounds to 1: 1 - AL = 0.
    for z in (17.0, 30.0, 1e4):
        params = (jaxbp.Layer(jnp.ones((1, 1), jnp.float32), jnp.zeros((1, 1), jnp.float32)),)
        X, Y = jnp.full((1, 1), z, jnp.float32), jnp.zeros((1, 1), jnp.float32)
        AL, caches = jaxbp.forward(params, X, hidden="relu")
        assert float(AL[0, 0]) == 1.0
        via_dAL = jaxbp.backward(params, caches, AL, Y, hidden="relu", start="dAL")
        via_dZL = jaxbp.backward(params, caches, AL, Y, hidden="relu", start="dZL")
        assert not np.isfinite(np.asarray(via_dAL[0].W)).all()  # dAL = (1 - Y)/(1 - AL) = 1/0
        np.testing.assert_array_equal(np.asarray(via_dZL[0].W), [[z]])  # (AL - Y) * X = 1 * z
        assert np.isfinite(float(jaxbp.cost(params, X, Y, hidden="relu")))  # softplus(z) = z
    # and below the saturation both starts agree
    params = (jaxbp.Layer(jnp.ones((1, 1), jnp.float32), jnp.zeros((1, 1), jnp.float32)),)
    X, Y = jnp.full((1, 1), 5.0, jnp.float32), jnp.zeros((1, 1), jnp.float32)
    AL, caches = jaxbp.forward(params, X, hidden="relu")
    a = jaxbp.backward(params, caches, AL, Y, hidden="relu", start="dAL")
    b = jaxbp.backward(params, caches, AL, Y, hidden="relu", start="dZL")
    assert rel_error(a[0].W, b[0].W) <= 1e-6


WRONG = {
    "one_over_m_twice": lambda g, m: jax.tree.map(lambda x: x / m, g),
    "transposed_dW": lambda g, m: tuple(jaxbp.Layer(l.W.T, l.b) for l in g),
}


@pytest.mark.parametrize("mistake", sorted(WRONG))
def test_comparison_catches_a_wrong_backprop(key, mistake):
    params, X, Y = problem(key, (4, 4, 4, 1), 20, hidden="tanh")
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    right = jaxbp.backward(params, caches, AL, Y, hidden="tanh")
    ref = jaxbp.autodiff_grads(params, X, Y, hidden="tanh")
    assert max_rel_error(right, ref) <= TOL[jnp.float64]
    assert max_rel_error(WRONG[mistake](right, 20), ref) > 0.1


def test_comparison_catches_the_wrong_activation_derivative(key):
    params, X, Y = problem(key, (4, 5, 3, 1), 20, hidden="tanh")
    AL, caches = jaxbp.forward(params, X, hidden="tanh")
    dZL = jaxbp.backprop.output_dZL(AL, Y, caches, output="sigmoid", start="dZL", placement="deferred", m=20)
    wrong = jaxbp.backward_from(dZL, params, caches, hidden="sigmoid")  # sigmoid' on a tanh net
    assert max_rel_error(wrong, jaxbp.autodiff_grads(params, X, Y, hidden="tanh")) > 0.1


@pytest.mark.parametrize(("hidden", "output"), [("tanh", "sigmoid"), ("sigmoid", "softmax"), ("tanh", "identity")])
def test_backward_matches_finite_differences(key, hidden, output):
    params, X, Y = problem(key, (3, 4, 3), 8, hidden=hidden, output=output, zero_column=False)
    AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
    grads = jaxbp.backward(params, caches, AL, Y, hidden=hidden, output=output)
    h = np.finfo(np.float64).eps ** (1 / 3)  # central differences: truncation h^2 ~ rounding eps/h
    leaves, treedef = jax.tree.flatten(params)
    errors = []
    for i, leaf in enumerate(leaves):
        fd = np.zeros(leaf.shape)
        for idx in itertools.product(*map(range, leaf.shape)):
            def J(delta, i=i, idx=idx):
                bumped = [x.at[idx].add(delta) if j == i else x for j, x in enumerate(leaves)]
                return float(jaxbp.cost(jax.tree.unflatten(treedef, bumped), X, Y, hidden=hidden, output=output))
            fd[idx] = (J(h) - J(-h)) / (2 * h)
        errors.append(rel_error(jax.tree.leaves(grads)[i], fd))
    assert max(errors) <= 1e-8  # measured worst 2.3e-10 (sigmoid/softmax), h^2 truncation + eps/h rounding


def test_two_layer_backward_worked_by_hand():
    # n = (1, 1, 1), identity hidden, identity output, m = 2, J = (1/2m) sum (a - y)^2.
    # W1 = 2, b1 = 0, W2 = 3, b2 = 1; X = [1, 2], Y = [0, 10].
    # Z1 = [2, 4], A1 = Z1, Z2 = 3 A1 + 1 = [7, 13], dZ2 = AL - Y = [7, 3]
    # dW2 = (1/2)(7*2 + 3*4) = 13, db2 = (1/2)(7 + 3) = 5
    # dA1 = W2 dZ2 = [21, 9] = dZ1;  dW1 = (1/2)(21*1 + 9*2) = 19.5, db1 = (1/2)(21 + 9) = 15
    f = jnp.float64
    params = (jaxbp.Layer(jnp.array([[2.0]], f), jnp.array([[0.0]], f)), jaxbp.Layer(jnp.array([[3.0]], f), jnp.array([[1.0]], f)))
    X, Y = jnp.array([[1.0, 2.0]], f), jnp.array([[0.0, 10.0]], f)
    AL, caches = jaxbp.forward(params, X, hidden="identity", output="identity")
    grads, steps = jaxbp.backward(params, caches, AL, Y, hidden="identity", output="identity", intermediates=True)
    assert [np.asarray(x).item() for x in jax.tree.leaves(grads)] == [19.5, 15.0, 13.0, 5.0]
    np.testing.assert_array_equal(steps[1].dZ, [[7.0, 3.0]])
    np.testing.assert_array_equal(steps[0].dA_prev, [[42.0, 18.0]])  # dA0 = W1 dZ1 = 2 * [21, 9]


def test_linear_backward_returns_course_order_and_placement_scaling(key):
    dZ = jax.random.normal(key, (3, 8))
    A_prev, W = jax.random.normal(jax.random.fold_in(key, 1), (5, 8)), jax.random.normal(jax.random.fold_in(key, 2), (3, 5))
    dA_prev, dW, db = jaxbp.linear_backward(dZ, A_prev, W)
    np.testing.assert_allclose(dW, np.asarray(dZ) @ np.asarray(A_prev).T / 8, rtol=1e-14)
    np.testing.assert_allclose(db, np.asarray(dZ).sum(1, keepdims=True) / 8, rtol=1e-14)
    np.testing.assert_allclose(dA_prev, np.asarray(W).T @ np.asarray(dZ), rtol=1e-14)
    _, dW_sum, db_sum = jaxbp.linear_backward(dZ, A_prev, W, placement="sum")
    np.testing.assert_allclose(dW_sum, 8 * dW, rtol=1e-14)
    np.testing.assert_allclose(db_sum, 8 * db, rtol=1e-14)


def test_mask_and_global_m_give_the_gradient_of_the_unpadded_batch(key):
    params, X, Y = problem(key, (4, 5, 1), 10, hidden="relu")
    Xp, Yp = jnp.pad(X, ((0, 0), (0, 6))), jnp.pad(Y, ((0, 0), (0, 6)))
    mask = (jnp.arange(16) < 10)[None, :].astype(X.dtype)
    ref = jaxbp.autodiff_grads(params, X, Y, hidden="relu")
    for placement in ("deferred", "absorbed"):
        AL, caches = jaxbp.forward(params, Xp, hidden="relu")
        grads = jaxbp.backward(params, caches, AL, Yp, hidden="relu", placement=placement, m=10, mask=mask)
        assert max_rel_error(grads, ref) <= 1e-14
    masked = jaxbp.autodiff_grads(params, Xp, Yp, hidden="relu", m=10, mask=mask)
    assert max_rel_error(masked, ref) <= 1e-14


@pytest.mark.parametrize("placement", ["deferred", "absorbed"])
def test_float16_gradients_survive_m_above_65504(key, placement):
    # float16 holds at most 65504: a 16-bit m would be Inf and every 1/m-scaled gradient 0.
    m = 100_000
    params, X, Y = problem(key, (3, 4, 1), m, hidden="tanh", dtype=jnp.float64, zero_column=False)
    ref = jaxbp.autodiff_grads(params, X, Y, hidden="tanh")
    p16, X16 = jax.tree.map(lambda a: a.astype(jnp.float16), params), X.astype(jnp.float16)
    AL, caches = jaxbp.forward(p16, X16, hidden="tanh")
    grads = jaxbp.backward(p16, caches, AL, Y.astype(jnp.float16), hidden="tanh", placement=placement)
    assert max_rel_error(grads, ref) < 0.05  # float16 sums over 1e5 terms: measured ~1e-2
    assert np.isfinite(float(jaxbp.cost(p16, X16, Y.astype(jnp.float16), hidden="tanh")))
