"""Losses from logits vs the course's form, stability, reductions and the course's worked number."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import activations, costs


def test_compute_cost_reproduces_the_course_number():
    # The course's compute_cost test: -(log .8 + log .9 + log .6) / 3 = 0.2797765635793422
    Y, AL = np.array([[1, 1, 0]]), np.array([[0.8, 0.9, 0.4]])
    assert float(jaxbp.compute_cost(AL, Y)) == pytest.approx(0.2797765635793422, rel=1e-15)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity", "tanh"])
def test_logits_form_equals_probability_form(output):
    ZL = jnp.asarray(2 * np.random.default_rng(0).normal(size=(3, 11)))  # NumPy: no per-shape compile
    Y = {"sigmoid": (ZL > 0.3).astype(ZL.dtype), "softmax": jax.nn.one_hot(jnp.arange(11) % 3, 3, axis=0),
         "identity": ZL + 1, "tanh": jnp.tanh(ZL) / 2}[output]
    AL = activations.g(output)(ZL)
    np.testing.assert_allclose(costs.loss_from_logits(ZL, Y, output=output),
                               costs.loss_from_probabilities(AL, Y, output=output), rtol=1e-12)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_loss_from_logits_is_finite_up_to_1e4_in_float32(output):
    ZL = jnp.array([[-1e4, -100.0, 0.0, 100.0, 1e4], [1e4, 100.0, 0.0, -100.0, -1e4]], jnp.float32)
    Y = jnp.array([[1.0, 1, 0, 0, 1], [0, 0, 1, 1, 0]], jnp.float32)
    if output == "sigmoid":
        ZL, Y = ZL[:1], Y[:1]
    loss = costs.loss_from_logits(ZL, Y, output=output)
    grad = jax.grad(lambda Z: jnp.sum(costs.loss_from_logits(Z, Y, output=output)))(ZL)
    assert np.isfinite(np.asarray(loss)).all() and np.isfinite(np.asarray(grad)).all()
    assert float(loss[0, 0]) == pytest.approx(2e4 if output == "softmax" else 1e4, rel=1e-6)  # wrong by 1e4 logits
    probability_form = costs.loss_from_probabilities(activations.g(output)(ZL), Y, output=output)
    assert not np.isfinite(np.asarray(probability_form)).all()  # the course's form overflows there


def test_reduce_mean_sum_mask_and_global_m():
    per_example = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    assert float(costs.reduce(per_example)) == 2.5
    assert float(costs.reduce(per_example, reduction="sum")) == 10.0
    mask = jnp.array([[1.0, 1.0, 0.0, 0.0]])
    assert float(costs.reduce(per_example, mask=mask, m=2)) == 1.5
    assert float(costs.reduce(per_example, mask=mask, reduction="sum")) == 3.0


def test_cost_sum_is_m_times_mean(key):
    params = jaxbp.init_params(key, (3, 4, 1), dtype=jnp.float64)
    X = jnp.asarray(np.random.default_rng(1).normal(size=(3, 9)))
    Y = (X[:1] > 0).astype(X.dtype)
    assert float(jaxbp.cost(params, X, Y, reduction="sum")) == pytest.approx(9 * float(jaxbp.cost(params, X, Y)), rel=1e-14)
