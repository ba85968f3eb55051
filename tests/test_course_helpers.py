"""The course-format pieces: stand-in helpers, dA key conventions, and the reference's L2 and dropout.

Oracles: the course's own definitions (written out here), NumPy's documented RandomState stream, and jax.grad of
a cost written independently below in jax.numpy (the course's form: BCE from A3, masks applied to A).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import activations, model
from jaxbp.checking import reference
from jaxbp.checking.compare import rel_error
from jaxbp.course import convert, helpers, standins


def test_reference_numpy_g_and_g_prime_equal_activations_including_z_0():
    Z = np.array([[-3.0, -1e-3, 0.0, 1e-3, 2.0, 40.0]])
    eps = np.finfo(np.float64).eps
    for name in activations.HIDDEN:
        g = reference.NP_G[name](Z)
        np.testing.assert_allclose(g, np.asarray(activations.g(name)(jnp.asarray(Z))), rtol=1e-15, atol=1e-300)
        # 1 - tanh^2 and s (1 - s) subtract from 1: an ulp of g (XLA's tanh and NumPy's may differ by one, e.g. at
        # XLA's level 0) moves g' by about eps g^2 absolutely (measured 4.4e-16 at tanh'(-3) = 0.0099)
        atol = 4 * eps * g**2 if name in ("sigmoid", "tanh") else 1e-300
        np.testing.assert_array_less(np.abs(reference.NP_G_PRIME[name](Z)
                                            - np.asarray(activations.g_prime(name)(jnp.asarray(Z)))),
                                     1e-15 * np.abs(reference.NP_G_PRIME[name](Z)) + atol + 1e-300, err_msg=name)


def test_reference_l2_and_dropout_are_jax_grad_of_the_course_cost():
    rng = np.random.default_rng(0)
    dims, m, lambd, keep_prob = (3, 5, 4, 1), 16, 0.7, 0.8
    layers = tuple(model.Layer(W=rng.standard_normal((dims[l], dims[l - 1])), b=rng.standard_normal((dims[l], 1)))
                   for l in range(1, 4))
    X, Y = rng.standard_normal((3, m)), (rng.random((1, m)) < 0.5) * 1.0
    masks = helpers.dropout_masks([(5, m), (4, m)], keep_prob)

    def J(params):  # the course's: relu, relu, sigmoid; A = relu(Z) * D / keep_prob; BCE from A3; + (λ/2m) Σ ||W||²
        A = X
        for l, p in enumerate(params, start=1):
            Z = p.W @ A + p.b
            A = jax.nn.sigmoid(Z) if l == 3 else jnp.maximum(Z, 0) * masks[l - 1] / keep_prob
        cross_entropy = -jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))
        return cross_entropy + lambd / (2 * m) * sum(jnp.sum(p.W**2) for p in params)

    expected = jax.grad(J)(layers)
    ref = reference.reference(layers, X, Y, hidden="relu", output="sigmoid", placement="deferred", lambd=lambd,
                              keep_prob=keep_prob, masks=masks)
    for l, g in enumerate(expected, start=1):
        assert rel_error(ref.grads[f"dW{l}"], g.W) < 1e-13 and rel_error(ref.grads[f"db{l}"], g.b) < 1e-13
    assert ref.cost == pytest.approx(float(J(layers)), rel=1e-6)  # log(1 - A3) from A3 loses digits; J from Z3 does not
    assert ref.l2 == lambd / m


def test_helpers_dropout_masks_are_the_course_stream():
    D1, D2 = helpers.dropout_masks([(2, 3), (1, 2)], 0.5)
    # np.random.seed(1); np.random.rand(6): 0.417022, 0.720324, 0.000114, 0.302333, 0.146756, 0.092339
    np.testing.assert_array_equal(D1, [[1, 0, 1], [1, 1, 1]])
    np.testing.assert_array_equal(D2, [[1, 1]])  # 0.186260, 0.345561
    assert D1.dtype.kind == "i"


def test_helpers_are_the_course_definitions():
    Z = np.array([[-1.0, 0.0, 2.0]])
    dA = np.array([[5.0, 6.0, 7.0]])
    np.testing.assert_array_equal(helpers.relu_backward(dA, Z), [[0.0, 0.0, 7.0]])  # dZ[Z <= 0] = 0
    A, cache = helpers.sigmoid(Z)
    assert cache is Z and A[0, 1] == 0.5
    np.testing.assert_allclose(helpers.sigmoid_backward(dA, Z), dA * A * (1 - A))
    params = {k: np.arange(np.prod(s), dtype=float).reshape(s) for k, s in helpers.GC_SHAPES}
    theta, keys = helpers.dictionary_to_vector(params)
    assert theta.shape == (47, 1) and keys[:20] == ["W1"] * 20 and keys[-1] == "b3"
    back = helpers.vector_to_dictionary(theta)
    assert all(np.array_equal(back[k], params[k]) for k in params)
    grads = {"d" + k: v for k, v in params.items()}
    np.testing.assert_array_equal(helpers.gradients_to_vector(grads), theta)


def test_standins_answer_only_when_nothing_else_does(tmp_path):
    (tmp_path / "gc_utils.py").write_text("def sigmoid(x):\n    return 'the learner\\'s own'\n")
    (tmp_path / "learner.py").write_text("from gc_utils import sigmoid\nfrom dnn_utils import relu_backward\n"
                                         "from planar_utils import load_planar_dataset\n")
    module, used = standins.load_source(str(tmp_path / "learner.py"))
    assert module.sigmoid(0) == "the learner's own" and used == ["dnn_utils", "planar_utils"]
    assert module.relu_backward is helpers.relu_backward
    with pytest.raises(NotImplementedError, match="put planar_utils.py beside your file"):
        module.load_planar_dataset()
    import sys

    assert "dnn_utils" not in sys.modules and str(tmp_path) not in sys.path  # undone on exit
    assert "dnn_utils, planar_utils not found beside" in standins.standin_note(used, "learner.py")


@pytest.mark.parametrize(("keys", "dims", "convention", "read"), [
    ({"dA0": (4,), "dA1": (5,), "dA2": (3,)}, (4, 5, 3, 1), "new", [(0, "dA0"), (1, "dA1"), (2, "dA2")]),
    ({"dA1": (4,), "dA2": (5,), "dA3": (3,)}, (4, 5, 3, 1), "old", [(0, "dA1"), (1, "dA2"), (2, "dA3")]),
    ({"dA1": (5,), "dA2": (3,)}, (4, 5, 3, 1), "new", [(1, "dA1"), (2, "dA2")]),  # C2W1's hand-unrolled backward
    ({"dA1": (4,), "dA2": (5,)}, (4, 5, 3, 1), "old", [(0, "dA1"), (1, "dA2")]),  # shapes decide
    ({"dA1": (5,), "dA2": (5,)}, (5, 5, 5, 1), "new", [(1, "dA1"), (2, "dA2")]),  # both fit: new
    ({"dW1": (5,)}, (4, 5, 1), None, []),
])
def test_convert_dA_convention_from_keys_then_shapes(keys, dims, convention, read):
    grads = {k: np.zeros((*rows, 7)) for k, rows in keys.items()}
    assert convert.dA_convention(grads, dims)[0] == convention
    assert convert.dA_keys(grads, dims) == read
    note = convert.dA_note(grads, dims)
    assert (note is None) == (convention is None)
    if convention == "old":
        assert '"dA" + str(l + 1)' in note
