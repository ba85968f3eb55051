"""Each g' against jax.grad of the same g (kinks included) and check_grads; values against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from refs import NP_G

from jaxbp import activations
from jaxbp.backprop import activation_backward

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
Z_WITH_KINK = jnp.array([-3.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 2.0], jnp.float64)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_g_prime_equals_jax_grad_of_g_including_Z_zero(name):
    g, g_prime = activations.ACTIVATIONS[name]
    autodiff = jax.vmap(jax.grad(g))(Z_WITH_KINK)
    np.testing.assert_allclose(g_prime(Z_WITH_KINK), autodiff, rtol=5e-16, atol=0)  # tanh: 2.6e-16 measured (1 ulp)
    kink = Z_WITH_KINK == 0
    np.testing.assert_array_equal(g_prime(Z_WITH_KINK)[kink], autodiff[kink])  # at Z == 0 exactly equal


def test_kink_values_match_jax_nn():
    zero = jnp.zeros((), jnp.float64)
    assert activations.relu_prime(zero) == jax.grad(jax.nn.relu)(zero) == 0
    assert activations.leaky_relu_prime(zero) == jax.grad(jax.nn.leaky_relu)(zero) == 1


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "identity"])
def test_smooth_g_passes_check_grads(name):
    check_grads(activations.g(name), (jnp.linspace(-4, 4, 9),), order=2, modes=["fwd", "rev"])


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_piecewise_g_passes_check_grads_away_from_the_kink(name):
    check_grads(activations.g(name), (jnp.array([-2.0, -0.5, 0.5, 2.0]),), order=1, modes=["fwd", "rev"])


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_g_matches_numpy(name):
    Z = np.random.default_rng(0).normal(size=(4, 6)) * 3
    np.testing.assert_allclose(activations.g(name)(jnp.asarray(Z)), NP_G[name](Z), rtol=1e-14, atol=1e-300)


def test_leaky_relu_slope_is_a_parameter_defaulting_to_jax_nn():
    Z = jnp.array([-2.0, 3.0])
    np.testing.assert_array_equal(activations.leaky_relu(Z), jax.nn.leaky_relu(Z))
    np.testing.assert_array_equal(activations.leaky_relu(Z, 0.2), [-0.4, 3.0])
    np.testing.assert_array_equal(activations.leaky_relu_prime(Z, 0.2), [0.2, 1.0])


def test_softmax_backward_is_the_vjp_of_softmax():
    rng = np.random.default_rng(0)
    Z, dA = jnp.asarray(rng.normal(size=(5, 7))), jnp.asarray(rng.normal(size=(5, 7)))
    _, vjp = jax.vjp(activations.softmax, Z)
    np.testing.assert_allclose(activation_backward(dA, Z, activation="softmax"), vjp(dA)[0], rtol=1e-13)


def test_activation_backward_is_dA_times_g_prime_of_Z_not_A():
    Z = jnp.array([[-1.0, 0.0, 2.0]])
    dA = jnp.array([[1.0, 2.0, 3.0]])
    s = 1 / (1 + np.exp(-np.asarray(Z)))
    np.testing.assert_allclose(activation_backward(dA, Z, activation="sigmoid"), dA * s * (1 - s), rtol=1e-15)
