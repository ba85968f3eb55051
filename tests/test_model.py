"""init_params, forward and cost against NumPy float64; autodiff and per-example grads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import problem
from refs import compute_cost_with_regularization, max_rel_error, np_cost, np_forward

import jaxbp


@pytest.mark.parametrize(("method", "std"), [("he", lambda a, b: (2 / a) ** 0.5), ("xavier", lambda a, b: (2 / (a + b)) ** 0.5),
                                             ("ng", lambda a, b: a ** -0.5), ("small", lambda a, b: 0.01)])
def test_init_params_shapes_and_scale(key, method, std):
    dims = (400, 300, 200)
    params = jaxbp.init_params(key, dims, method=method, dtype=jnp.float64)
    for l, layer in enumerate(params, start=1):
        assert layer.W.shape == (dims[l], dims[l - 1]) and layer.b.shape == (dims[l], 1)
        assert layer.W.dtype == layer.b.dtype == jnp.float64
        assert not np.any(np.asarray(layer.b))
        assert float(jnp.std(layer.W)) == pytest.approx(std(dims[l - 1], dims[l]), rel=0.02)  # 6e4+ samples


def test_init_params_is_a_function_of_the_key(key):
    a, b = jaxbp.init_params(key, (3, 4, 1)), jaxbp.init_params(key, (3, 4, 1))
    c = jaxbp.init_params(jax.random.fold_in(key, 1), (3, 4, 1))
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    assert not np.array_equal(a[0].W, c[0].W)
    assert a[0].W.dtype == jnp.float32  # the explicit default, whatever x64 says


@pytest.mark.parametrize(("hidden", "output"), [("relu", "sigmoid"), ("tanh", "softmax"), ("leaky_relu", "identity"), ("sigmoid", "tanh")])
def test_forward_and_cost_match_numpy(key, hidden, output):
    params, X, Y = problem(key, (4, 6, 5, 3), 13, hidden=hidden, output=output)
    AL, caches = jaxbp.forward(params, X, hidden=hidden, output=output)
    np.testing.assert_allclose(AL, np_forward(params, X, hidden, output), rtol=1e-13)
    assert len(caches) == 3 and caches[0].A_prev is X
    assert float(jaxbp.cost(params, X, Y, hidden=hidden, output=output)) == pytest.approx(np_cost(params, X, Y, hidden, output), rel=1e-13)


def test_linear_forward(key):
    W, A, b = jnp.ones((2, 3)), jnp.arange(6.0).reshape(3, 2), jnp.array([[1.0], [2.0]])
    np.testing.assert_array_equal(jaxbp.linear_forward(A, W, b), [[1 + 6, 1 + 9], [2 + 6, 2 + 9]])


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
def test_per_example_grads_mean_is_the_batch_gradient(key, output):
    params, X, Y = problem(key, (4, 5, 3), 17, hidden="tanh", output=output)
    per_example = jax.jit(jaxbp.per_example_grads, static_argnames=("hidden", "output"))(params, X, Y, hidden="tanh",
                                                                                        output=output)
    assert per_example[0].W.shape == (17, 5, 4) and per_example[0].b.shape == (17, 5, 1)
    mean = jax.tree.map(lambda g: g.mean(axis=0), per_example)
    total = jax.tree.map(lambda g: g.sum(axis=0), per_example)
    assert max_rel_error(mean, jaxbp.autodiff_grads(params, X, Y, hidden="tanh", output=output)) <= 1e-14
    assert max_rel_error(total, jaxbp.autodiff_grads(params, X, Y, hidden="tanh", output=output, reduction="sum")) <= 1e-14


def test_autodiff_grads_and_value_and_grad_work_under_jit(key):
    params, X, Y = problem(key, (4, 5, 1), 12)
    eager = jaxbp.autodiff_grads(params, X, Y)
    jitted = jax.jit(jaxbp.autodiff_grads, static_argnames=("hidden", "output", "reduction"))(params, X, Y, hidden="relu")
    assert max_rel_error(eager, jitted) <= 1e-15
    value, grads = jax.jit(jax.value_and_grad(jaxbp.cost), static_argnames=("hidden", "output"))(params, X, Y, hidden="relu")
    assert float(value) == pytest.approx(float(jaxbp.cost(params, X, Y)), rel=1e-15)
    assert max_rel_error(grads, eager) <= 1e-15


def test_predict(key):
    params, X, _ = problem(key, (4, 5, 3), 12, output="softmax")
    AL, _ = jaxbp.forward(params, X, output="softmax")
    np.testing.assert_array_equal(jaxbp.predict(params, X, output="softmax"), np.argmax(AL, axis=0))
    params, X, _ = problem(key, (4, 5, 1), 12)
    AL, _ = jaxbp.forward(params, X)
    np.testing.assert_array_equal(jaxbp.predict(params, X), (np.asarray(AL) > 0.5).astype(float))


def test_cost_with_l2_matches_the_course_compute_cost_with_regularization(key):
    params, X, Y = problem(key, (4, 6, 5, 1), 13, hidden="relu", zero_column=False)
    AL, _ = jaxbp.forward(params, X)
    course_params = {f"{q}{l}": np.asarray(getattr(p, q)) for l, p in enumerate(params, start=1) for q in "Wb"}
    want = compute_cost_with_regularization(np.asarray(AL), np.asarray(Y), course_params, 0.7)
    assert float(jaxbp.cost(params, X, Y, lambd=0.7)) == pytest.approx(want, rel=1e-13)
    total = float(jaxbp.cost(params, X, Y, lambd=0.7, reduction="sum"))
    assert total == pytest.approx(13 * want, rel=1e-13)  # sum L + (lambd/2) sum ||W||^2 = m * mean


def test_forward_with_dropout_matches_the_course(key):
    params, X, Y = problem(key, (4, 6, 5, 3), 13, hidden="tanh", output="softmax")
    masks = jaxbp.model.dropout_masks(jax.random.key(3), params, 13, keep_prob=0.8)
    assert [D.shape for D in masks] == [(6, 13), (5, 13)] and all(D.dtype == X.dtype for D in masks)
    assert set(np.unique(np.concatenate([np.ravel(D) for D in masks]))) <= {0.0, 1.0}
    kw = dict(hidden="tanh", output="softmax", keep_prob=0.8)
    AL, caches = jaxbp.forward(params, X, **kw, masks=masks)
    np.testing.assert_allclose(AL, np_forward(params, X, "tanh", "softmax", masks, 0.8), rtol=1e-13)
    assert caches[0].D is masks[0] and caches[1].D is masks[1] and caches[2].D is None
    J = float(jaxbp.cost(params, X, Y, **kw, masks=masks))
    assert J == pytest.approx(np_cost(params, X, Y, "tanh", "softmax", masks, 0.8), rel=1e-13)
    drawn, _ = jaxbp.forward(params, X, **kw, key=jax.random.key(3))  # a key draws the same masks
    np.testing.assert_array_equal(drawn, AL)


def test_dropout_masks_keep_about_keep_prob_of_the_units():
    params = tuple(jaxbp.Layer(jnp.zeros((n, p)), jnp.zeros((n, 1))) for p, n in ((3, 200), (200, 100), (100, 1)))
    masks = jaxbp.model.dropout_masks(jax.random.key(0), params, 500, keep_prob=0.8)
    assert [D.shape for D in masks] == [(200, 500), (100, 500)]
    assert float(jnp.mean(masks[0])) == pytest.approx(0.8, abs=0.01)  # 1e5 draws: sd 1.3e-3
    assert not np.array_equal(masks[0][:100], masks[1])  # one key per layer


def test_dropout_needs_masks_or_a_key_not_both(key):
    params, X, _ = problem(key, (4, 3, 1), 5)
    with pytest.raises(ValueError, match=r"keep_prob = 0.5 < 1 needs dropout masks"):
        jaxbp.forward(params, X, keep_prob=0.5)
    with pytest.raises(ValueError, match="not both"):
        jaxbp.forward(params, X, keep_prob=0.5, masks=(jnp.ones((3, 5)),), key=jax.random.key(0))
