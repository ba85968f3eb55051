"""Batch and layer normalisation (course 2, week 3; cs231n's layouts), forward and hand-written backward.

Contract
    cs231n's layout, not Ng's: x (N, D), one example per ROW; gamma, beta (D,), 1-D, broadcast
    explicitly as gamma[None, :]. Batch norm normalises each feature over the N examples (axis 0),
    layer norm each example over its D features (axis 1). Variances are the biased ones (1/N, as
    np.var), and sigma = sqrt(var + eps).
    Pure, unlike cs231n: batchnorm_forward does not write the new running_mean/running_var into
    bn_param; it returns an updated copy as cache.bn_param (next step: bn_param = cache.bn_param).
    Missing running statistics start at zeros, as cs231n's bn_param.get(..., np.zeros(D)).
    bn_param["mode"] and cache.mode are Python strings: inside jit, close over bn_param (or
    rebuild it there from its arrays) and return arrays, not the cache, from the jitted function.
    Gradients are of a cost that sums over the examples' rows as given (no 1/N added here).
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxbp import shapes
from jaxbp.layers import _validate as check

Mode = Literal["train", "test"]  # bn_param["mode"]
MODES = ("train", "test")


class BatchNormCache(NamedTuple):
    """What batchnorm_backward(_alt) reads, and the updated bn_param."""

    x: jax.Array  # (N, D)
    x_hat: jax.Array  # (N, D)
    mu: jax.Array  # (1, D)   the batch mean in train mode, running_mean in test mode
    var: jax.Array  # (1, D)   the batch variance in train mode, running_var in test mode
    gamma: jax.Array  # (D,)
    eps: float
    mode: str
    bn_param: dict  # a new dict: bn_param with the updated running_mean, running_var (D,)


class LayerNormCache(NamedTuple):
    """What layernorm_backward reads."""

    x_hat: jax.Array  # (N, D)
    sigma: jax.Array  # (N, 1)
    gamma: jax.Array  # (D,)


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of each feature over the batch; returns (out, cache).

    mode "train":
        mu     = (1/N) sum_i x[i]                     (1, D)
        var    = (1/N) sum_i (x[i] - mu)^2            (1, D)
        x_hat  = (x - mu) / sqrt(var + eps)           (N, D)
        out    = gamma x_hat + beta                   (N, D)
        running_mean = momentum running_mean + (1 - momentum) mu     (D,)
        running_var  = momentum running_var  + (1 - momentum) var    (D,)
    mode "test": x_hat = (x - running_mean) / sqrt(running_var + eps); running stats unchanged.
    bn_param: {"mode", "eps" (1e-5), "momentum" (0.9), "running_mean", "running_var"}; not
    mutated: the updated copy is cache.bn_param.
    """
    mode, eps, momentum, running_mean, running_var = _bn_args(x, gamma, beta, bn_param)
    if mode == "train":
        mu = jnp.mean(x, axis=0, keepdims=True)  # (1, D)
        var = jnp.mean((x - mu) ** 2, axis=0, keepdims=True)  # (1, D)
        running_mean = momentum * running_mean + (1 - momentum) * mu[0]  # (D,)
        running_var = momentum * running_var + (1 - momentum) * var[0]
    else:
        mu, var = running_mean[None, :], running_var[None, :]  # (1, D)
    x_hat = (x - mu) / jnp.sqrt(var + eps)  # (N, D)
    out = gamma[None, :] * x_hat + beta[None, :]  # (N, D)
    new_param = {**bn_param, "running_mean": running_mean, "running_var": running_var}
    return out, BatchNormCache(x, x_hat, mu, var, gamma, eps, mode, new_param)


def batchnorm_backward(dout, cache):
    """Backward step through batchnorm_forward, node by node of its computational graph; returns (dx, dgamma, dbeta).

    Forward graph: xmu = x - mu;  sq = xmu^2;  var = mean(sq);  sqrtvar = sqrt(var + eps);
    ivar = 1 / sqrtvar;  x_hat = xmu ivar;  out = gamma x_hat + beta.  Backward, node by node:
        dbeta    = sum_i dout                                  (D,)
        dgamma   = sum_i dout * x_hat                          (D,)
        dx_hat   = dout * gamma                                (N, D)
        divar    = sum_i dx_hat * xmu                          (1, D)
        dxmu1    = dx_hat * ivar                               (N, D)
        dsqrtvar = -divar / sqrtvar^2                          (1, D)
        dvar     = dsqrtvar / (2 sqrtvar)                      (1, D)
        dsq      = dvar / N                                    (N, D) broadcast
        dxmu2    = 2 xmu dsq                                   (N, D)
        dmu      = -sum_i (dxmu1 + dxmu2)                      (1, D)
        dx       = dxmu1 + dxmu2 + dmu / N                     (N, D)
    In test mode mu and var are constants (the running statistics): dx = dxmu1.
    """
    x, x_hat, mu, var, gamma, eps, mode = _bn_cache(cache, dout)
    N = x.shape[0]
    dbeta = jnp.sum(dout, axis=0)  # (D,)
    dgamma = jnp.sum(dout * x_hat, axis=0)  # (D,)
    dx_hat = dout * gamma[None, :]  # (N, D)
    xmu = x - mu
    sqrtvar = jnp.sqrt(var + eps)  # (1, D)
    ivar = 1 / sqrtvar
    dxmu1 = dx_hat * ivar
    if mode == "test":
        return dxmu1, dgamma, dbeta
    divar = jnp.sum(dx_hat * xmu, axis=0, keepdims=True)  # (1, D)
    dsqrtvar = -divar / sqrtvar**2
    dvar = dsqrtvar / (2 * sqrtvar)
    dsq = jnp.broadcast_to(dvar / N, x.shape)  # (N, D)
    dxmu2 = 2 * xmu * dsq
    dmu = -jnp.sum(dxmu1 + dxmu2, axis=0, keepdims=True)  # (1, D)
    dx = dxmu1 + dxmu2 + dmu / N  # (N, D)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """batchnorm_backward in closed form, simplified on paper; returns (dx, dgamma, dbeta).

        dx     = (gamma / (N sigma)) (N dout - sum_i dout - x_hat sum_i (dout x_hat))    (N, D)
        dgamma = sum_i dout x_hat,   dbeta = sum_i dout                                 (D,)
    with sigma = sqrt(var + eps) (1, D); in test mode dx = gamma dout / sigma.
    """
    x, x_hat, _, var, gamma, eps, mode = _bn_cache(cache, dout)
    dbeta = jnp.sum(dout, axis=0)  # (D,)
    dgamma = jnp.sum(dout * x_hat, axis=0)  # (D,)
    sigma = jnp.sqrt(var + eps)  # (1, D)
    dx_hat = gamma[None, :] * dout  # (N, D)
    if mode == "test":
        return dx_hat / sigma, dgamma, dbeta
    return normalize_backward(dx_hat, x_hat, sigma, axis=0), dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation of each example over its features; returns (out, cache).

        mu    = (1/D) sum_j x[:, j]                   (N, 1)
        var   = (1/D) sum_j (x[:, j] - mu)^2          (N, 1)
        x_hat = (x - mu) / sqrt(var + eps)            (N, D)
        out   = gamma x_hat + beta                    (N, D)
    ln_param: {"eps" (1e-5)}; other keys (cs231n's "mode") are ignored: train and test agree.
    """
    _norm_arrays(x, gamma, beta)
    if not isinstance(ln_param, dict):
        raise TypeError(f"ln_param must be a dict such as {{'eps': 1e-5}}, got {type(ln_param).__name__}")
    eps = _eps("ln_param['eps']", ln_param.get("eps", 1e-5))
    mu = jnp.mean(x, axis=1, keepdims=True)  # (N, 1)
    var = jnp.mean((x - mu) ** 2, axis=1, keepdims=True)  # (N, 1)
    sigma = jnp.sqrt(var + eps)
    x_hat = (x - mu) / sigma  # (N, D)
    return gamma[None, :] * x_hat + beta[None, :], LayerNormCache(x_hat, sigma, gamma)


def layernorm_backward(dout, cache):
    """Backward step through layernorm_forward; returns (dx, dgamma, dbeta).

        dgamma = sum_i dout x_hat,   dbeta = sum_i dout                                  (D,)
        dx     = (1 / (D sigma)) (D dx_hat - sum_j dx_hat - x_hat sum_j (dx_hat x_hat))   (N, D)
    with dx_hat = gamma dout: batchnorm_backward_alt's formula along axis 1.
    """
    x_hat, sigma, gamma = check.tuple_of("cache", cache, LayerNormCache._fields)
    dims = check.array("cache's x_hat", x_hat, ("N", "D"), {})
    dtype = ("cache's x_hat", x_hat.dtype)
    check.array("cache's sigma", sigma, ("N", 1), dims, dtype=dtype)
    check.array("cache's gamma", gamma, ("D",), dims, dtype=dtype)
    check.array("dout", dout, ("N", "D"), dims, dtype=dtype)
    dbeta = jnp.sum(dout, axis=0)  # (D,)
    dgamma = jnp.sum(dout * x_hat, axis=0)  # (D,)
    dx_hat = gamma[None, :] * dout  # (N, D)
    return normalize_backward(dx_hat, x_hat, sigma, axis=1), dgamma, dbeta


def normalize_backward(dx_hat, x_hat, sigma, *, axis):
    """dx for x_hat = (x - mean(x)) / sigma along axis (K entries), sigma = sqrt(var + eps):

        dx = (1 / (K sigma)) (K dx_hat - sum_axis dx_hat - x_hat sum_axis (dx_hat x_hat))
    """
    K = x_hat.shape[axis]
    sum_dx_hat = jnp.sum(dx_hat, axis=axis, keepdims=True)
    sum_dx_hat_x_hat = jnp.sum(dx_hat * x_hat, axis=axis, keepdims=True)
    return (K * dx_hat - sum_dx_hat - x_hat * sum_dx_hat_x_hat) / (K * sigma)


def _norm_arrays(x, gamma, beta):
    dims = check.array("x", x, ("N", "D"), {})
    check.array("gamma", gamma, ("D",), dims, dtype=("x", x.dtype))
    check.array("beta", beta, ("D",), dims, dtype=("x", x.dtype))
    return dims


def _eps(name, eps):
    """eps of sigma = sqrt(var + eps): a finite number > 0 (a Python or NumPy number, not a string)."""
    return float(shapes.scalar(name, eps, low=0, low_open=True))


def _bn_args(x, gamma, beta, bn_param):
    """Validate batchnorm_forward's arguments; return (mode, eps, momentum, running_mean, running_var)."""
    dims = _norm_arrays(x, gamma, beta)
    if not isinstance(bn_param, dict):
        raise TypeError(f"bn_param must be a dict with a 'mode' key, got {type(bn_param).__name__}")
    if "mode" not in bn_param:
        raise ValueError(f"bn_param must have a 'mode' key, one of {', '.join(map(repr, MODES))}")
    mode = check.choice("bn_param['mode']", bn_param["mode"], MODES)
    eps = _eps("bn_param['eps']", bn_param.get("eps", 1e-5))
    momentum = float(shapes.scalar("bn_param['momentum']", bn_param.get("momentum", 0.9), low=0, high=1))
    running = []
    for key in ("running_mean", "running_var"):
        value = bn_param.get(key)
        if value is None:
            value = jnp.zeros(dims["D"], x.dtype)
        check.array(f"bn_param[{key!r}]", value, ("D",), dims, dtype=("x", x.dtype))
        if key == "running_var":
            shapes.holds(lambda xp, v: v >= 0, "bn_param['running_var'] must be >= 0 (a variance)", value)
        running.append(value)
    return (mode, eps, momentum, *running)


def _bn_cache(cache, dout):
    """Validate a batchnorm_forward cache and dout; return its fields but bn_param."""
    x, x_hat, mu, var, gamma, eps, mode, _ = check.tuple_of("cache", cache, BatchNormCache._fields)
    dims = check.array("cache's x", x, ("N", "D"), {})
    check.array("dout", dout, ("N", "D"), dims, dtype=("cache's x", x.dtype))
    return x, x_hat, mu, var, gamma, eps, check.choice("cache's mode", mode, MODES)
