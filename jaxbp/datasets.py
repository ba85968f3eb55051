"""Small data sets in Ng's layout, generated or shipped inside packages (nothing downloads).

Each returns (X, Y) with X (n_x, m) and Y (n_y, m). flower and moons are generated from
an explicit key; digits and breast_cancer come from scikit-learn's shipped files (the
`experiments` extra: pip install 'jaxbp[experiments]'). breast_cancer is standardised per
feature (mean 0, standard deviation 1); digits' pixels, 0 ... 16, are divided by 16 into [0, 1].
"""

import jax
import jax.numpy as jnp
import numpy as np


def flower(key, m=400, *, dtype=jnp.float32):
    """The course's planar 'flower': two classes of m/2 points on the petals r = 4 sin(4 t)."""
    if m < 2 or m % 2:
        raise ValueError(f"m must be an even number >= 2, got {m}")
    N = m // 2
    k_t, k_r = jax.random.split(key)
    j = jnp.repeat(jnp.arange(2), N)  # class of each point, (m,)
    t = jnp.tile(jnp.linspace(0, 3.12, N), 2) + 3.12 * j + 0.2 * jax.random.normal(k_t, (m,))
    r = 4 * jnp.sin(4 * t) + 0.2 * jax.random.normal(k_r, (m,))
    X = jnp.stack([r * jnp.sin(t), r * jnp.cos(t)])  # (2, m)
    return X.astype(dtype), j[None, :].astype(dtype)  # (2, m), (1, m)


def moons(key, m=400, *, noise=0.2, dtype=jnp.float32):
    """Two interleaving half circles (scikit-learn's make_moons, generated here in JAX)."""
    if m < 2:
        raise ValueError(f"m must be >= 2, got {m}")
    n_out = m // 2
    n_in = m - n_out
    k_noise, _ = jax.random.split(key)
    t_out, t_in = jnp.linspace(0, jnp.pi, n_out), jnp.linspace(0, jnp.pi, n_in)
    x = jnp.concatenate([jnp.cos(t_out), 1 - jnp.cos(t_in)])
    y = jnp.concatenate([jnp.sin(t_out), 1 - jnp.sin(t_in) - 0.5])
    X = jnp.stack([x, y]) + noise * jax.random.normal(k_noise, (2, m))
    Y = jnp.concatenate([jnp.zeros(n_out), jnp.ones(n_in)])[None, :]
    return X.astype(dtype), Y.astype(dtype)


def _sklearn_datasets():
    """sklearn.datasets, or an ImportError that says which extra to install."""
    try:
        import sklearn.datasets
    except ImportError as err:
        raise ImportError("the digits and breast cancer data come with scikit-learn: "
                          "pip install 'jaxbp[experiments]'") from err
    return sklearn.datasets


def _standardised(X):
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1)


def breast_cancer(*, dtype=jnp.float32):
    """scikit-learn's Wisconsin breast cancer set: X (30, 569), Y (1, 569) with 1 = benign."""
    data = _sklearn_datasets().load_breast_cancer()
    return jnp.asarray(_standardised(data.data).T, dtype), jnp.asarray(data.target[None, :], dtype)


def digits(*, dtype=jnp.float32, one_hot=True):
    """scikit-learn's 8x8 digits: X (64, 1797) scaled to [0, 1]; Y one-hot (10, 1797) or labels (1, 1797)."""
    data = _sklearn_datasets().load_digits()
    X = jnp.asarray(data.data.T / 16.0, dtype)
    labels = np.asarray(data.target)
    Y = np.eye(10)[labels].T if one_hot else labels[None, :]
    return X, jnp.asarray(Y, dtype)
