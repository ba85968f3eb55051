"""Random well-scaled problems shared by the tests: params, X, Y for a given configuration."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxbp


def labels(key, output, n_y, m, dtype):
    """Y (n_y, m) valid for the output's cost: 0/1 for sigmoid, one-hot for softmax, reals otherwise."""
    if output == "sigmoid":
        return jax.random.bernoulli(key, 0.5, (n_y, m)).astype(dtype)
    if output == "softmax":
        return jax.nn.one_hot(jax.random.randint(key, (m,), 0, n_y), n_y, axis=0, dtype=dtype)
    if output == "tanh":
        return jax.random.uniform(key, (n_y, m), dtype, -0.9, 0.9)
    return jax.random.normal(key, (n_y, m), dtype)


def problem(key, layer_dims, m, *, hidden="relu", output="sigmoid", dtype=jnp.float64, zero_column=True):
    """(params, X, Y) with He/Xavier init and biases drawn small; X's first column is 0 so Z == 0 exactly there.

    With b = 0 on that column too, every Z[l][:, 0] is exactly 0 for relu-family nets: the kinks are hit.
    """
    k_p, k_x, k_y, k_b = jax.random.split(key, 4)
    method = "he" if hidden in ("relu", "leaky_relu") else "xavier"
    params = jaxbp.init_params(k_p, layer_dims, method=method, dtype=dtype)
    if not zero_column:  # nonzero biases so db is exercised away from the kink
        b_keys = jax.random.split(k_b, len(params))
        params = tuple(jaxbp.Layer(p.W, 0.1 * jax.random.normal(k, p.b.shape, dtype)) for p, k in zip(params, b_keys, strict=True))
    X = jax.random.normal(k_x, (layer_dims[0], m), dtype)
    if zero_column:
        X = X.at[:, 0].set(0)
    return params, X, labels(k_y, output, layer_dims[-1], m, dtype)


def random_dims(seed, depth, *, output):
    """layer_dims of the given depth with widths 1..7; softmax gets n_y >= 2."""
    rng = np.random.default_rng(seed)
    dims = [int(n) for n in rng.integers(1, 8, size=depth + 1)]
    if output == "softmax":
        dims[-1] = max(dims[-1], 2)
    return tuple(dims)
