"""Learner-style batch norm (cs231n assignment 2): forward with the learner's own cache, the graph backward,
the closed-form backward_alt, and real mistakes."""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        sample_mean = x.mean(axis=0)
        sample_var = x.var(axis=0)
        x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
        out = gamma * x_hat + beta
        cache = (x, x_hat, sample_mean, sample_var, gamma, eps)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def _graph(dout, cache, *, bug=None):
    """cs231n's batchnorm_backward, node by node of the computational graph."""
    x, x_hat, mu, var, gamma, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0, keepdims=bug == "keepdims")
    if bug == "matrix":
        dgamma = dout.T @ x_hat
    else:
        dgamma = np.sum(dout * x_hat, axis=0, keepdims=bug == "keepdims")
    dx_hat = dout * gamma
    xmu = x - mu
    sqrtvar = np.sqrt(var + eps)
    ivar = 1 / sqrtvar
    dxmu1 = dx_hat * ivar
    divar = np.sum(dx_hat * xmu, axis=0)
    dsqrtvar = -divar / sqrtvar**2
    dvar = 0.5 * dsqrtvar / sqrtvar
    dsq = np.ones((N, D)) * dvar / N
    dxmu2 = 2 * xmu * dsq
    if bug == "no-variance":
        dxmu2 = 0 * dxmu2
    dmu = -np.sum(dxmu1 + dxmu2, axis=0)
    dx = dxmu1 + dxmu2 + (0 if bug == "no-mean" else dmu / N)
    if bug == "constant-stats":
        dx = dxmu1
    if bug == "divided-by-N":
        dgamma, dbeta = dgamma / N, dbeta / N
    return dx, dgamma, dbeta


def batchnorm_backward(dout, cache):
    return _graph(dout, cache)


def no_mean_batchnorm_backward(dout, cache):
    return _graph(dout, cache, bug="no-mean")


def no_variance_batchnorm_backward(dout, cache):
    return _graph(dout, cache, bug="no-variance")


def constant_stats_batchnorm_backward(dout, cache):
    return _graph(dout, cache, bug="constant-stats")


def keepdims_batchnorm_backward(dout, cache):
    return _graph(dout, cache, bug="keepdims")


def matrix_batchnorm_backward(dout, cache):
    return _graph(dout, cache, bug="matrix")


def divided_by_N_batchnorm_backward(dout, cache):
    return _graph(dout, cache, bug="divided-by-N")


def batchnorm_backward_alt(dout, cache):
    x, x_hat, mu, var, gamma, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx = (gamma / (N * np.sqrt(var + eps))) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def no_mean_batchnorm_backward_alt(dout, cache):
    x, x_hat, mu, var, gamma, eps = cache
    N = dout.shape[0]
    dgamma = np.sum(dout * x_hat, axis=0)
    dx = (gamma / (N * np.sqrt(var + eps))) * (N * dout - x_hat * dgamma)
    return dx, dgamma, dout.sum(axis=0)
