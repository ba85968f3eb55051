"""The course-format boundary: dict converters round-trip and match the library's trees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import problem

import jaxbp
from jaxbp import course


def test_params_round_trip(key):
    params = jaxbp.init_params(key, (4, 3, 2, 1))
    d = course.to_course(params)
    assert sorted(d) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    back = course.from_course(d)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    assert all(a is b for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True))


def test_from_course_names_missing_keys():
    with pytest.raises(ValueError, match="missing"):
        course.from_course({"W1": np.ones((2, 2)), "W2": np.ones((1, 2)), "b2": np.ones((1, 1))})


def test_grads_to_course_has_the_course_keys(key):
    params, X, Y = problem(key, (4, 3, 1), 6)
    AL, caches = jaxbp.forward(params, X)
    grads, steps = jaxbp.backward(params, caches, AL, Y, hidden="relu", output="sigmoid", intermediates=True)
    d = course.grads_to_course(grads, steps)
    assert sorted(d) == ["dA0", "dA1", "dW1", "dW2", "db1", "db2"]
    assert d["dA0"].shape == X.shape and d["dA1"].shape == (3, 6)
    layers, dA = course.grads_from_course(d, 2)
    assert sorted(dA) == [0, 1] and layers[1].W is grads[1].W
    with pytest.raises(KeyError, match="db2"):
        course.grads_from_course({k: v for k, v in d.items() if k != "db2"}, 2)


def test_course_caches_round_trip(key):
    params, X, _ = problem(key, (4, 3, 1), 6)
    _, caches = jaxbp.forward(params, X)
    cc = course.to_course_caches(params, caches)
    (A_prev, W, b), Z = cc[1]
    assert A_prev is caches[1].A_prev and W is params[1].W and Z is caches[1].Z
    p2, c2 = course.from_course_caches(cc)
    assert jax.tree.structure(p2) == jax.tree.structure(params) and jax.tree.structure(c2) == jax.tree.structure(caches)


def test_numpy_params_in_course_dicts_stay_numpy():
    d = {"W1": np.ones((2, 3)), "b1": np.zeros((2, 1))}
    assert isinstance(course.from_course(d)[0].W, np.ndarray)
    assert jnp.asarray(course.from_course(d)[0].W).shape == (2, 3)
