"""Bad input raises ValueError/TypeError naming the argument and the expected vs actual value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp


@pytest.fixture
def net(key):
    params = jaxbp.init_params(key, (4, 3, 1), dtype=jnp.float64)
    X = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5)))  # NumPy: no per-shape compile
    Y = jnp.array([[0.0, 1, 1, 0, 1]])
    return params, X, Y


def fwd_bwd(params, X, Y, **kw):
    AL, caches = jaxbp.forward(params, X)
    return jaxbp.backward(params, caches, AL, Y, **{"hidden": "relu", "output": "sigmoid", **kw})


CASES = {
    "X rows != n_x": (lambda p, X, Y: jaxbp.forward(p, X[:3]), ValueError, r"X must be \(n_x, m\) with n_x = n\[0\] = 4"),
    "W does not chain": (lambda p, X, Y: jaxbp.forward((p[0], jaxbp.Layer(jnp.ones((1, 2)), p[1].b)), X), ValueError,
                         r"W\[2\] must be \(n\[2\], n\[1\]\) = \(1, 3\), got \(1, 2\)"),
    "1-D b": (lambda p, X, Y: jaxbp.forward((jaxbp.Layer(p[0].W, p[0].b[:, 0]), p[1]), X), ValueError,
              r"b\[1\] must be \(n\[1\], 1\) = \(3, 1\), got \(3,\)"),
    "1-D Y": (lambda p, X, Y: jaxbp.cost(p, X, Y[0]), ValueError, r"Y must be 2-D \(n_y, m\) = \(1, 5\), got shape \(5,\)"),
    "Y wrong m": (lambda p, X, Y: fwd_bwd(p, X, Y[:, :4]), ValueError, r"Y must be \(n_y, m\) = \(1, 5\)"),
    "m = 0": (lambda p, X, Y: jaxbp.forward(p, X[:, :0]), ValueError, r"m >= 1\), got m = 0"),
    "labels outside [0, 1]": (lambda p, X, Y: jaxbp.cost(p, X, 2 * Y), ValueError, r"Y must lie in \[0, 1\] for output='sigmoid'"),
    "softmax Y not one-hot": (lambda p, X, Y: jaxbp.cost(jaxbp.init_params(jax.random.key(1), (4, 3), dtype=jnp.float64), X,
                                                       jnp.ones((3, 5)), output="softmax"), ValueError, r"Y must be one-hot"),
    "NaN in X": (lambda p, X, Y: jaxbp.forward(p, X.at[0, 0].set(jnp.nan)), ValueError, r"X holds 1 non-finite value\(s\) \(NaN or Inf\)"),
    "Inf in params": (lambda p, X, Y: jaxbp.forward((jaxbp.Layer(p[0].W.at[1, 1].set(jnp.inf), p[0].b), p[1]), X), ValueError,
                      r"W\[1\] holds 1 non-finite value\(s\)"),
    "integer X": (lambda p, X, Y: jaxbp.forward(p, X.astype(jnp.int32)), TypeError, r"X must have a floating dtype"),
    "mixed dtypes": (lambda p, X, Y: jaxbp.forward(p, X.astype(jnp.float32)), TypeError, r"X has dtype float32 but the params have float64"),
    "unknown hidden": (lambda p, X, Y: jaxbp.forward(p, X, hidden="ReLU"), ValueError, r"hidden must be one of .*'relu'.*; got 'ReLU'"),
    "unknown output": (lambda p, X, Y: jaxbp.forward(p, X, output="logistic"), ValueError, r"output must be one of"),
    "unknown placement": (lambda p, X, Y: fwd_bwd(p, X, Y, placement="early"), ValueError, r"placement must be one of 'deferred'"),
    "unknown start": (lambda p, X, Y: fwd_bwd(p, X, Y, start="dA"), ValueError, r"start must be one of 'dZL', 'dAL'; got 'dA'"),
    "unknown method": (lambda p, X, Y: jaxbp.init_params(jax.random.key(0), (2, 1), method="glorot"), ValueError, r"method must be one of"),
    "unknown reduction": (lambda p, X, Y: jaxbp.cost(p, X, Y, reduction="avg"), ValueError, r"reduction must be one of 'mean', 'sum'"),
    "dZL start with tanh output": (lambda p, X, Y: fwd_bwd(p, X, Y, output="tanh"), ValueError, r"use start='dAL'"),
    "params not a tuple": (lambda p, X, Y: jaxbp.forward({"W1": p[0].W}, X), TypeError, r"params must be a non-empty tuple of Layer"),
    "list as X": (lambda p, X, Y: jaxbp.forward(p, [[1.0]]), TypeError, r"X must be an array, got list"),
    "bad layer_dims": (lambda p, X, Y: jaxbp.init_params(jax.random.key(0), (3,)), ValueError, r"layer_dims must be"),
    "mask wrong shape": (lambda p, X, Y: fwd_bwd(p, X, Y, mask=jnp.ones((5,))), ValueError, r"mask must be \(1, m\) = \(1, 5\)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_naming_the_argument(net, case):
    call, error, pattern = CASES[case]
    with pytest.raises(error, match=pattern):
        call(*net)


def test_shape_errors_are_raised_at_trace_time_under_jit(net):
    params, X, Y = net
    f = jax.jit(lambda p, X: jaxbp.forward(p, X)[0])
    with pytest.raises(ValueError, match=r"X must be \(n_x, m\)"):
        f(params, X[:2])


def test_values_inside_jit_are_not_checked_but_shapes_are(net):
    params, X, Y = net  # a NaN traced inside jit cannot be seen without a device sync; eager calls catch it
    out = jax.jit(lambda X: jaxbp.cost(params, X, Y))(X.at[0, 0].set(jnp.nan))
    assert np.isnan(float(out))  # relu passes the NaN on (0 * NaN), it does not turn it into 0


def test_debug_runs_the_value_checks_under_jit_inside_checkify(net):
    from jax.experimental import checkify

    params, X, Y = net
    f = jax.jit(lambda X, mask: jaxbp.cost(params, X, Y, mask=mask, debug=True))
    checked = checkify.checkify(f, errors=checkify.user_checks)
    err, _ = checked(X, jnp.ones((1, 5)))
    err.throw()
    for bad_X, bad_mask, message in [(X.at[0, 0].set(jnp.nan), jnp.ones((1, 5)), r"X holds .*non-finite value"),
                                     (X, jnp.array([[1.0, 1, 2, 1, 0]]), r"mask must hold only 0/1 values")]:
        err, _ = checked(bad_X, bad_mask)
        with pytest.raises(ValueError, match=message):
            err.throw()
    with pytest.raises(ValueError, match="Cannot abstractly evaluate a checkify.check"):
        f(X, jnp.ones((1, 5)))  # debug=True is for checked runs only


def test_integer_labels_are_accepted(net):
    params, X, Y = net
    assert float(jaxbp.cost(params, X, Y.astype(jnp.int32))) == pytest.approx(float(jaxbp.cost(params, X, Y)))
