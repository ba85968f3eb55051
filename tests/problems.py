"""Random well-scaled problems shared by the tests: params, X, Y for a given configuration.

Built with NumPy and handed to JAX as arrays: eager jax.random compiles its kernels once per
shape, which for the tests' many random shapes cost more than the computations under test.
"""

import jax
import jax.numpy as jnp
import numpy as np

import jaxbp


def rng_of(key):
    """A NumPy Generator seeded from a jax key, a legacy uint32 key or an int seed."""
    if isinstance(key, (int, np.integer)):
        return np.random.default_rng(int(key))
    data = np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key)
    return np.random.default_rng([int(x) for x in data.ravel()])


def labels(rng, output, n_y, m, dtype):
    """Y (n_y, m) valid for the output's cost: 0/1 for sigmoid, one-hot for softmax, reals otherwise."""
    if output == "sigmoid":
        Y = (rng.random((n_y, m)) < 0.5).astype(np.float64)
    elif output == "softmax":
        Y = np.eye(n_y)[:, rng.integers(0, n_y, m)]
    elif output == "tanh":
        Y = rng.uniform(-0.9, 0.9, (n_y, m))
    else:
        Y = rng.normal(size=(n_y, m))
    return jnp.asarray(Y, dtype)


def problem(key, layer_dims, m, *, hidden="relu", output="sigmoid", dtype=jnp.float64, zero_column=True):
    """(params, X, Y) with He/Xavier-scaled W and biases drawn small; X's first column is 0 so Z == 0 exactly there.

    With b = 0 on that column too, every Z[l][:, 0] is exactly 0 for relu-family nets: the kinks are hit.
    key: a jax key or an int seed (only its bits are used, by NumPy).
    """
    rng = rng_of(key)
    he = hidden in ("relu", "leaky_relu")
    params = []
    for n_prev, n_l in zip(layer_dims[:-1], layer_dims[1:], strict=True):
        scale = (2 / n_prev) ** 0.5 if he else (2 / (n_prev + n_l)) ** 0.5
        W = rng.normal(size=(n_l, n_prev)) * scale
        b = np.zeros((n_l, 1)) if zero_column else 0.1 * rng.normal(size=(n_l, 1))  # nonzero: db away from the kink
        params.append(jaxbp.Layer(jnp.asarray(W, dtype), jnp.asarray(b, dtype)))
    X = rng.normal(size=(layer_dims[0], m))
    if zero_column:
        X[:, 0] = 0
    return tuple(params), jnp.asarray(X, dtype), labels(rng, output, layer_dims[-1], m, dtype)


def random_dims(seed, depth, *, output):
    """layer_dims of the given depth with widths 1..7; softmax gets n_y >= 2."""
    rng = np.random.default_rng(seed)
    dims = [int(n) for n in rng.integers(1, 8, size=depth + 1)]
    if output == "softmax":
        dims[-1] = max(dims[-1], 2)
    return tuple(dims)
