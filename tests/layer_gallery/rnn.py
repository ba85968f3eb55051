"""Learner-style RNN (course 5, week 1): the course's cell and loop, a stacked-weights version, and real mistakes."""

import numpy as np


def softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def rnn_cell_forward(xt, a_prev, parameters):
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    Wya = parameters["Wya"]
    ba = parameters["ba"]
    by = parameters["by"]
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    yt_pred = softmax(np.dot(Wya, a_next) + by)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache


def rnn_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    a_next = a0
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    caches = (caches, x)
    return a, y_pred, caches


def _cell_backward(da_next, cache, *, bug=None):
    (a_next, a_prev, xt, parameters) = cache
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    if bug == "tanh-of-a":
        dtanh = (1 - np.tanh(a_next) ** 2) * da_next
    elif bug == "no-derivative":
        dtanh = da_next
    else:
        dtanh = (1 - a_next**2) * da_next
    dxt = np.dot(Wax.T, dtanh)
    dWax = np.dot(dtanh, xt.T)
    da_prev = np.dot(Waa.T, dtanh)
    if bug == "a_next":
        dWaa = np.dot(dtanh, a_next.T)
    elif bug == "transposed":
        dWaa = np.dot(a_prev, dtanh.T)
    else:
        dWaa = np.dot(dtanh, a_prev.T)
    dba = np.sum(dtanh, axis=1, keepdims=bug != "no-keepdims")
    if bug == "divided-by-m":
        m = xt.shape[1]
        dWax, dWaa, dba = dWax / m, dWaa / m, dba / m
    return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache)


def tanh_of_a_rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache, bug="tanh-of-a")


def no_derivative_rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache, bug="no-derivative")


def a_next_rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache, bug="a_next")


def transposed_rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache, bug="transposed")


def no_keepdims_rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache, bug="no-keepdims")


def divided_by_m_rnn_cell_backward(da_next, cache):
    return _cell_backward(da_next, cache, bug="divided-by-m")


def missing_key_rnn_cell_backward(da_next, cache):
    gradients = _cell_backward(da_next, cache)
    del gradients["dba"]
    return gradients


def _backward(da, caches, *, bug=None, cell=rnn_cell_backward):
    (caches, x) = caches
    (a1, a0, x1, parameters) = caches[0]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x))
    dWax = np.zeros((n_a, n_x))
    dWaa = np.zeros((n_a, n_a))
    dba = np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        if bug == "not-carried":
            gradients = cell(da[:, :, t], caches[t])
        elif bug == "da-not-added":
            gradients = cell(da_prevt, caches[t])
        else:
            gradients = cell(da[:, :, t] + da_prevt, caches[t])
        dxt, da_prevt, dWaxt, dWaat, dbat = (gradients["dxt"], gradients["da_prev"], gradients["dWax"],
                                             gradients["dWaa"], gradients["dba"])
        dx[:, :, t] = dxt
        dWax += dWaxt
        dWaa += dWaat
        dba += dbat
    da0 = da_prevt
    return {"dx": dx, "da0": da0, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def rnn_backward(da, caches):
    return _backward(da, caches)


def not_carried_rnn_backward(da, caches):
    return _backward(da, caches, bug="not-carried")


def da_not_added_rnn_backward(da, caches):
    return _backward(da, caches, bug="da-not-added")


def tanh_of_a_rnn_backward(da, caches):
    return _backward(da, caches, cell=tanh_of_a_rnn_cell_backward)


# ---------------------------------------------------------------- stacked weights: one product per step
def stacked_rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, p = cache
    n_a = a_prev.shape[0]
    W = np.hstack([p["Waa"], p["Wax"]])  # (n_a, n_a + n_x) on [a_prev; xt]
    dz = (1 - a_next * a_next) * da_next
    dW = dz @ np.vstack([a_prev, xt]).T
    dconcat = W.T @ dz
    return {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dWax": dW[:, n_a:], "dWaa": dW[:, :n_a],
            "dba": dz.sum(axis=1, keepdims=True)}


def stacked_rnn_backward(da, caches):
    return _backward(da, caches, cell=stacked_rnn_cell_backward)


# ---------------------------------------------------------------- raising
def global_Wax_rnn_cell_forward(xt, a_prev, parameters):
    a_next = np.tanh(np.dot(parameters["Waa"], a_prev) + np.dot(Wax, xt) + parameters["ba"])  # noqa: F821
    return a_next, softmax(np.dot(parameters["Wya"], a_next) + parameters["by"]), (a_next, a_prev, xt, parameters)


def unpack_rnn_backward(da, caches):
    (a1, a0, x1, parameters) = caches  # the cache of one step: caches is (list of steps, x)
    return {}
