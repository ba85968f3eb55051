"""Learner-style LSTM (course 5, week 1): the course's cell and loop, a stacked-gates version, and real mistakes."""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf = parameters["Wf"]
    bf = parameters["bf"]
    Wi = parameters["Wi"]
    bi = parameters["bi"]
    Wc = parameters["Wc"]
    bc = parameters["bc"]
    Wo = parameters["Wo"]
    bo = parameters["bo"]
    Wy = parameters["Wy"]
    by = parameters["by"]
    n_x, m = xt.shape
    n_y, n_a = Wy.shape
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(np.dot(Wf, concat) + bf)
    it = sigmoid(np.dot(Wi, concat) + bi)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(Wo, concat) + bo)
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(np.dot(Wy, a_next) + by)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = np.zeros((n_a, m))
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    caches = (caches, x)
    return a, y, c, caches


def _cell_backward(da_next, dc_next, cache, *, bug=None):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_x, m = xt.shape
    n_a, m = a_next.shape
    dot = da_next * (c_next if bug == "no-tanh" else np.tanh(c_next)) * ot * (1 - ot)
    dc = dc_next + ot * (1 - np.square(np.tanh(c_next))) * da_next
    if bug == "brackets":  # the 2018 notebook's formulas (9)-(11) without the brackets
        dcct = dc_next * it + ot * (1 - np.square(np.tanh(c_next))) * it * da_next * (1 - np.square(cct))
        dit = dc_next * cct + ot * (1 - np.square(np.tanh(c_next))) * cct * da_next * it * (1 - it)
        dft = dc_next * c_prev + ot * (1 - np.square(np.tanh(c_next))) * c_prev * da_next * ft * (1 - ft)
    else:
        dcct = dc * it * (1 - np.square(np.tanh(cct)) if bug == "tanh-of-cct" else 1 - np.square(cct))
        dit = dc * cct * it * (1 - it)
        dft = dc * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    dWf = np.dot(dft, concat.T)
    dWi = np.dot(dit, concat.T)
    dWc = np.dot(dcct, concat.T)
    dWo = np.dot(dot, concat.T)
    dbf = np.sum(dft, axis=1, keepdims=True)
    dbi = np.sum(dit, axis=1, keepdims=True)
    dbc = np.sum(dcct, axis=1, keepdims=True)
    dbo = np.sum(dot, axis=1, keepdims=True)
    Wf, Wi, Wc, Wo = parameters["Wf"], parameters["Wi"], parameters["Wc"], parameters["Wo"]
    da_prev = (np.dot(Wf[:, :n_a].T, dft) + np.dot(Wi[:, :n_a].T, dit) + np.dot(Wc[:, :n_a].T, dcct)
               + np.dot(Wo[:, :n_a].T, dot))
    if bug == "no-forget-term":
        dc_prev = ot * (1 - np.square(np.tanh(c_next))) * ft * da_next
    elif bug == "no-forget-factor":
        dc_prev = dc
    else:
        dc_prev = dc * ft
    dxt = (np.dot(Wf[:, n_a:].T, dft) + np.dot(Wi[:, n_a:].T, dit) + np.dot(Wc[:, n_a:].T, dcct)
           + np.dot(Wo[:, n_a:].T, dot))
    return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
            "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}


def lstm_cell_backward(da_next, dc_next, cache):
    return _cell_backward(da_next, dc_next, cache)


def no_tanh_lstm_cell_backward(da_next, dc_next, cache):
    return _cell_backward(da_next, dc_next, cache, bug="no-tanh")


def brackets_lstm_cell_backward(da_next, dc_next, cache):
    return _cell_backward(da_next, dc_next, cache, bug="brackets")


def tanh_of_cct_lstm_cell_backward(da_next, dc_next, cache):
    return _cell_backward(da_next, dc_next, cache, bug="tanh-of-cct")


def no_forget_term_lstm_cell_backward(da_next, dc_next, cache):
    return _cell_backward(da_next, dc_next, cache, bug="no-forget-term")


def no_forget_factor_lstm_cell_backward(da_next, dc_next, cache):
    return _cell_backward(da_next, dc_next, cache, bug="no-forget-factor")


def _backward(da, caches, *, bug=None, cell=lstm_cell_backward):
    (caches, x) = caches
    (a1, c1, a0, c0, f1, i1, cc1, o1, x1, parameters) = caches[0]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    grads = {k: np.zeros_like(parameters[k[1:]]) for k in ("dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo")}
    for t in reversed(range(T_x)):
        if bug == "not-carried":  # da_prev not carried (dc_prev is)
            gradients = cell(da[:, :, t], dc_prevt, caches[t])
        elif bug == "da-not-added":
            gradients = cell(da_prevt, dc_prevt, caches[t])
        else:
            gradients = cell(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        dx[:, :, t] = gradients["dxt"]
        da_prevt = gradients["da_prev"]
        dc_prevt = gradients["dc_prev"]
        for k in grads:
            grads[k] += gradients[k]
    return {"dx": dx, "da0": da_prevt, **grads}


def lstm_backward(da, caches):
    return _backward(da, caches)


def not_carried_lstm_backward(da, caches):
    return _backward(da, caches, bug="not-carried")


def da_not_added_lstm_backward(da, caches):
    return _backward(da, caches, bug="da-not-added")


def brackets_lstm_backward(da, caches):
    return _backward(da, caches, cell=brackets_lstm_cell_backward)


def no_forget_factor_lstm_backward(da, caches):
    return _backward(da, caches, cell=no_forget_factor_lstm_cell_backward)


# ---------------------------------------------------------------- stacked gates: one product per step
def stacked_lstm_cell_backward(da_next, dc_next, cache):
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    n_a = a_prev.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c**2)
    dgates = np.vstack([dc * c_prev * ft * (1 - ft), dc * cct * it * (1 - it), dc * it * (1 - cct**2),
                        da_next * tanh_c * ot * (1 - ot)])  # (4 n_a, m): f, i, c, o
    W = np.vstack([p["Wf"], p["Wi"], p["Wc"], p["Wo"]])  # (4 n_a, n_a + n_x)
    dW = dgates @ np.vstack([a_prev, xt]).T
    db = dgates.sum(axis=1, keepdims=True)
    dconcat = W.T @ dgates
    out = {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dc_prev": dc * ft}
    for k, g in enumerate("fico"):
        out[f"dW{g}"], out[f"db{g}"] = dW[k * n_a:(k + 1) * n_a], db[k * n_a:(k + 1) * n_a]
    return out


def stacked_lstm_backward(da, caches):
    return _backward(da, caches, cell=stacked_lstm_cell_backward)


# ---------------------------------------------------------------- raising
def global_Wy_lstm_cell_forward(xt, a_prev, c_prev, parameters):
    a_next, c_next, _, cache = lstm_cell_forward(xt, a_prev, c_prev, parameters)
    yt_pred = softmax(np.dot(Wy, a_next) + parameters["by"])  # noqa: F821  (a notebook global)
    return a_next, c_next, yt_pred, cache
