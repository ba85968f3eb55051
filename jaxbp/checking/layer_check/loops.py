"""The course's backward passes once more, in NumPy float64, with one piece swappable and on absolute values.

Contract
    One function per layer family, vectorised over examples (and filters/channels), looping only over
    output positions or time steps as the course does. Called two ways:
    bug=None, absolute=True: the magnitude M of every output (jaxbp.checking.compare's bound is
        GROWTH u_p ||M||), a first-order running error bound of forward and backward together:
            M = B(|v|) + D B(|v|)[E]
        B is the backward evaluated on absolute values (|upstream|, |W|, |b|, the cached forward values
        |v|), each 1 - x written 1 + x. These backwards are polynomials in their inputs, so B(|v|) bounds
        the sum of the absolute values of every term a correct backward adds (Higham's running error
        bound), and |dB/dv| <= dB(|v|)/dv, so D B(|v|)[E] bounds what the cached values' own rounding,
        u E, does to the outputs (taken as a one-sided difference along E; B is increasing). E, in
        units of u, follows each forward operation (forward_errors):
            z = W concat + b:  E_z = |W| |concat| + |b| + |W| E_concat
            a = tanh(z):       E_a = |a| + (1 - a^2) E_z;    sigmoid g: E_g = g + g (1 - g) E_z
            c = f c_prev + i c~:  E_c = |f c_prev| + |i c~| + |c_prev| E_f + |f| E_c_prev + |c~| E_i + |i| E_c~
            a = o tanh(c):     E_a = |a| + |tanh c| E_o + |o| E_tanh(c),  E_tanh(c) = |tanh c| + (1 - tanh^2 c) E_c
            batch norm:        E_xmu = |x| + |mu| + mean|x|,  E_var = mean(xmu^2 + 2 |xmu| E_xmu),
                               E_1/sigma = (1/sigma)(1 + E_var / (2 (var + eps))),
                               E_x_hat = |x_hat| + E_xmu / sigma + |xmu| E_1/sigma
        and E is the forward outputs' own M. Conv and pool read no forward output: M = B(|v|).
    Through time (rnn, lstm) B(|v|) would compound |W|'s gain at every step (for the LSTM here 10^5 looser
    than the rounding it bounds), so each step is evaluated alone, at the exact gradient it receives and
    its cached values (the local terms of one step: a cell's own B(|v|) + D B(|v|)[E]), and weighed by
    the steps whose rounding its inputs carry: step t of the forward by t + 1, the k-th step of the
    backward by k + 1. That is, the relative error of the carried a, c, da_prev, dc_prev grows by one
    step's local rounding per step: true when the Jacobians through time do not amplify the rounding
    more than the gradient itself, which holds for these well-conditioned problems and is measured
    (tests/test_check_layers.py: worst correct-code ratios over seeds).
    bug="...": the same backward with one piece swapped for a learner's mistake (diagnosis.py names
        them); the candidates a learner's wrong output is compared with.
"""

import numpy as np

GATES = ("f", "i", "c", "o")


def _om(x, absolute):
    """1 - x, or 1 + x on magnitudes."""
    return 1 + x if absolute else 1 - x


# ---------------------------------------------------------------- conv and pool
def conv_forward(A_prev, W, b, stride, pad):
    """Z by the course's windows, vectorised over examples and filters."""
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, n_C = W.shape[0], W.shape[3]
    n_H, n_W = (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Z = np.empty((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_pad[:, h * stride:h * stride + f, w * stride:w * stride + f, :]  # (m, f, f, n_C_prev)
            Z[:, h, w, :] = np.einsum("ijkl,jklc->ic", window, W) + b[0, 0, 0]
    return Z


def conv_backward(dZ, A_prev, W, stride, pad, *, bug=None):
    """(dA_prev, dW, db) by the course's loop; bug: "stride-ignored" (windows at h, w), "not-accumulated"
    (= for +=: each window, dW[..., c] and db[c] keep the last write), "last-example" (dW, db reset per example)."""
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad, dW = np.zeros(A_pad.shape), np.zeros(W.shape)
    step = 1 if bug == "stride-ignored" else stride
    for h in range(n_H):
        for w in range(n_W):
            rows, cols = slice(h * step, h * step + f), slice(w * step, w * step + f)
            if bug == "not-accumulated":  # the loop over c writes last with c = n_C - 1
                dA_pad[:, rows, cols, :] = W[None, :, :, :, -1] * dZ[:, h, w, -1, None, None, None]
                continue
            dA_pad[:, rows, cols, :] += np.einsum("jklc,ic->ijkl", W, dZ[:, h, w, :])
            examples = slice(m - 1, m) if bug == "last-example" else slice(None)
            dW += np.einsum("ijkl,ic->jklc", A_pad[examples, rows, cols, :], dZ[examples, h, w, :])
    if bug == "not-accumulated":
        last = (m - 1, (n_H - 1) * step, (n_W - 1) * step)
        dW = A_pad[last[0], last[1]:last[1] + f, last[2]:last[2] + f, :, None] * dZ[m - 1, n_H - 1, n_W - 1]
        db = dZ[m - 1, n_H - 1, n_W - 1].reshape(1, 1, 1, n_C)
    else:
        db = np.sum(dZ[m - 1:] if bug == "last-example" else dZ, axis=(0, 1, 2)).reshape(1, 1, 1, n_C)
    n_H_prev, n_W_prev = A_prev.shape[1:3]
    return {"dA_prev": dA_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev, :], "dW": dW, "db": db}


def pool_forward(A_prev, f, stride, mode):
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    A = np.empty((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            A[:, h, w, :] = window.max(axis=(1, 2)) if mode == "max" else window.mean(axis=(1, 2))
    return A


def pool_backward(dA, A_prev, f, stride, mode, *, bug=None):
    """dA_prev by the course's loop; bug: "stride-ignored", "not-accumulated", and for routing
    "max-routing" (average mode routed as max), "averaged", "copied", "times-input" (mask * window * dA),
    "mask-over-channels" (one mask over the whole (f, f, n_C) slice, every channel's dA added there),
    "mask-over-channels-own" (that mask's channel only gets its own dA)."""
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    step = 1 if bug == "stride-ignored" else stride
    for h in range(n_H):
        for w in range(n_W):
            rows, cols = slice(h * step, h * step + f), slice(w * step, w * step + f)
            window, d = A_prev[:, rows, cols, :], dA[:, h, w, None, None, :]  # (m, f, f, n_C), (m, 1, 1, n_C)
            if (mode == "average" and bug != "max-routing") or bug == "averaged":
                contribution = np.broadcast_to(d / (f * f), window.shape)
            elif bug == "copied":
                contribution = np.broadcast_to(d, window.shape)
            elif bug in ("mask-over-channels", "mask-over-channels-own"):
                flat = window.reshape(m, -1)
                mask = (np.arange(flat.shape[1]) == flat.argmax(axis=1)[:, None]).reshape(window.shape)
                own = d if bug.endswith("own") else np.sum(d, axis=3, keepdims=True)
                contribution = mask * own
            else:
                flat = window.reshape(m, f * f, n_C)
                mask = (np.arange(f * f)[None, :, None] == flat.argmax(axis=1)[:, None, :]).reshape(window.shape)
                contribution = mask * d * (window if bug == "times-input" else 1)
            if bug == "not-accumulated":
                dA_prev[:, rows, cols, :] = contribution
            else:
                dA_prev[:, rows, cols, :] += contribution
    return {"dA_prev": dA_prev}


# ---------------------------------------------------------------- RNN and LSTM
def rnn_cell_backward(da_next, step, p, *, bug=None, absolute=False):
    """The course's rnn_cell_backward; step = {a_next, a_prev, xt}; bug: "derivative-at-A" (1 - tanh(a_next)^2),
    "missing-activation-derivative" (dz = da_next), "dWaa-from-a_next"."""
    a_next = step["a_next"]
    if bug == "derivative-at-A":
        dtanh = 1 - np.tanh(a_next) ** 2
    else:
        dtanh = 1.0 if bug == "missing-activation-derivative" else _om(a_next**2, absolute)
    dz = dtanh * da_next  # (n_a, m)
    return {"dxt": p["Wax"].T @ dz, "da_prev": p["Waa"].T @ dz, "dWax": dz @ step["xt"].T,
            "dWaa": dz @ (a_next if bug == "dWaa-from-a_next" else step["a_prev"]).T,
            "dba": np.sum(dz, axis=1, keepdims=True)}


def lstm_cell_backward(da_next, dc_next, step, p, *, bug=None, absolute=False):
    """The course's lstm_cell_backward; step = {a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, tanh_c};
    bug: "brackets" / "brackets-c-f" (the 2018 notebook's dc~, dΓ_u, dΓ_f, or dc~ and dΓ_f only: the
    activation's derivative multiplies only the da_next term), "derivative-at-A" (1 - tanh(cct)^2),
    "forget-no-dc_next" (dc_prev = da_next ot (1 - tanh^2) ft), "forget-no-ft" (dc_prev = dc),
    "dft-from-c_next" (dΓ_f with c_next for c_prev)."""
    s, om = step, (lambda x: _om(x, absolute))  # noqa: E731
    ft, it, cct, ot, tanh_c = s["ft"], s["it"], s["cct"], s["ot"], s["tanh_c"]
    through_a = da_next * ot * om(tanh_c**2)  # the da_next part of dc
    dc = dc_next + through_a
    c_prev = s["c_next"] if bug == "dft-from-c_next" else s["c_prev"]
    dcct_prime = 1 - np.tanh(cct) ** 2 if bug == "derivative-at-A" else om(cct**2)
    value = {"c": it, "i": cct, "f": c_prev}  # what dc is multiplied by before each gate's derivative
    prime = {"c": dcct_prime, "i": it * om(it), "f": ft * om(ft)}
    bracketed = {"brackets": "cif", "brackets-c-f": "cf"}.get(bug, "")
    dgates = {g: (dc_next * value[g] + through_a * value[g] * prime[g]) if g in bracketed
              else dc * value[g] * prime[g] for g in "cif"}
    dgates["o"] = da_next * tanh_c * ot * om(ot)
    concat = np.concatenate([s["a_prev"], s["xt"]], axis=0)  # (n_a + n_x, m)
    n_a = s["a_prev"].shape[0]
    dconcat = sum(p[f"W{g}"].T @ dgates[g] for g in GATES)
    dc_prev = {"forget-no-dc_next": through_a * ft, "forget-no-ft": dc}.get(bug, dc * ft)
    out = {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dc_prev": dc_prev}
    for g in GATES:
        out[f"dW{g}"], out[f"db{g}"] = dgates[g] @ concat.T, np.sum(dgates[g], axis=1, keepdims=True)
    return out


def through_time(cell, da, steps, *, carry="ac", add="all", record=None):
    """The course's rnn_backward / lstm_backward loop over t = T_x - 1 .. 0 with the cell backward `cell`.

    carry: which of da_prev ("a") and dc_prev ("c") pass from step t + 1 to step t ("" in the 2018 notebook);
    add: "all" (da_next = da[:, :, t] + da_prevt), "none" (da[:, :, t] never added), "last" (only
    da[:, :, T_x - 1], the starting da_prevt). record: a dict that gets {t: (da_next, dc_next)}."""
    T_x, zeros = da.shape[2], np.zeros(da.shape[:2])
    da_prevt, dc_prevt = (da[:, :, -1] if add == "last" else zeros), zeros
    grads, dx = {}, [None] * T_x
    for t in reversed(range(T_x)):
        da_next = zeros + (da[:, :, t] if add == "all" else 0) + (da_prevt if "a" in carry else 0)
        dc_next = dc_prevt if "c" in carry else zeros
        if record is not None:  # the gradients step t receives, for magnitudes
            record[t] = (da_next, dc_next)
        g = cell(da_next, dc_next, steps[t])
        dx[t], da_prevt, dc_prevt = g["dxt"], g["da_prev"], g.get("dc_prev", zeros)
        for k, v in g.items():
            if k.startswith(("dW", "db")):
                grads[k] = grads.get(k, 0) + v
    return {"dx": np.stack(dx, axis=-1), "da0": da_prevt, **grads}


def rnn_forward_steps(x, a0, p):
    """[{a_next, a_prev, xt}] per step of the course's rnn_forward."""
    steps, a_prev = [], a0
    for t in range(x.shape[2]):
        xt = x[:, :, t]
        a_next = np.tanh(p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"])
        steps.append({"a_next": a_next, "a_prev": a_prev, "xt": xt})
        a_prev = a_next
    return steps


def rnn_forward_errors(steps, p):
    """Per step, the error magnitudes (units of u) the step's own operations add to a_next (module docstring),
    with a_prev taken as exact: the local part; diagnosis.py weighs the steps."""
    W, U, b = np.abs(p["Waa"]), np.abs(p["Wax"]), np.abs(p["ba"])
    out = []
    for s in steps:
        E_z = W @ np.abs(s["a_prev"]) + U @ np.abs(s["xt"]) + b
        out.append({"a_next": np.abs(s["a_next"]) + (1 - s["a_next"] ** 2) * E_z})
    return out


def lstm_forward_steps(x, a0, c0, p):
    """[{a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, tanh_c}] per step of the course's lstm_forward."""
    steps, a_prev, c_prev = [], a0, c0
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(x.shape[2]):
        xt = x[:, :, t]
        concat = np.concatenate([a_prev, xt], axis=0)
        z = {g: p[f"W{g}"] @ concat + p[f"b{g}"] for g in GATES}
        gate = {g: np.tanh(z[g]) if g == "c" else sig(z[g]) for g in GATES}
        c_next = gate["f"] * c_prev + gate["i"] * gate["c"]
        tanh_c = np.tanh(c_next)
        steps.append({"a_next": gate["o"] * tanh_c, "c_next": c_next, "a_prev": a_prev, "c_prev": c_prev,
                      "ft": gate["f"], "it": gate["i"], "cct": gate["c"], "ot": gate["o"], "xt": xt, "tanh_c": tanh_c})
        a_prev, c_prev = steps[-1]["a_next"], c_next
    return steps


def lstm_forward_errors(steps, p):
    """Per step, the error magnitudes (units of u) the step's own operations add to its cached values, with
    a_prev and c_prev taken as exact: the local part (module docstring); diagnosis.py weighs the steps."""
    out = []
    names = {"f": "ft", "i": "it", "c": "cct", "o": "ot"}
    for s in steps:
        concat = np.abs(np.concatenate([s["a_prev"], s["xt"]], axis=0))
        E = {}
        for g, k in names.items():
            E_z = np.abs(p[f"W{g}"]) @ concat + np.abs(p[f"b{g}"])
            v = s[k]
            E[k] = np.abs(v) + ((1 - v**2) if g == "c" else v * (1 - v)) * E_z
        f, i, cc, c_prev = s["ft"], s["it"], s["cct"], np.abs(s["c_prev"])
        E["c_next"] = f * c_prev + np.abs(i * cc) + c_prev * E["ft"] + np.abs(cc) * E["it"] + i * E["cct"]
        tc = s["tanh_c"]
        E["tanh_c"] = np.abs(tc) + (1 - tc**2) * E["c_next"]
        E["a_next"] = np.abs(s["a_next"]) + np.abs(tc) * E["ot"] + s["ot"] * E["tanh_c"]
        out.append(E)
    return out


def with_forward_errors(backward, values, errors):
    """B(|v|) + D B(|v|)[E] (module docstring) for backward(dict of values) -> {output: array} on magnitudes;
    errors holds E for some of the values (the others are exact)."""
    top = max(float(np.max(e)) for e in errors.values())
    base = backward(values)
    if top == 0:
        return base
    h = 1e-6 / max(1.0, top)
    bumped = backward({k: v + h * errors[k] if k in errors else v for k, v in values.items()})
    return {k: base[k] + (bumped[k] - base[k]) / h for k in base}


# ---------------------------------------------------------------- batch norm (cs231n)
def batchnorm_statistics(x, gamma, beta, eps):
    """({x_hat, inv_sigma, out}, their error magnitudes E in units of u) of cs231n's train-mode forward."""
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu**2).mean(axis=0)
    inv_sigma = 1 / np.sqrt(var + eps)
    x_hat = xmu * inv_sigma
    out = gamma * x_hat + beta
    E_xmu = np.abs(x) + np.abs(mu) + np.abs(x).mean(axis=0)
    E_var = (xmu**2 + 2 * np.abs(xmu) * E_xmu).mean(axis=0)
    E_inv_sigma = inv_sigma * (1 + E_var / (2 * (var + eps)))
    E_x_hat = np.abs(x_hat) + E_xmu * inv_sigma + np.abs(xmu) * E_inv_sigma
    E_out = np.abs(out) + np.abs(gamma) * E_x_hat + np.abs(beta)
    return ({"x_hat": x_hat, "inv_sigma": inv_sigma, "out": out},
            {"x_hat": E_x_hat, "inv_sigma": E_inv_sigma, "out": E_out})


def batchnorm_backward(dout, x_hat, inv_sigma, gamma, *, bug=None, absolute=False):
    """(dx, dgamma, dbeta) in closed form, dx = (gamma / (N sigma)) (N dout - sum dout - x_hat sum(dout x_hat));
    bug: "missing-mean-term" (no - sum dout: dmu's 1/N term), "missing-variance-term" (no x_hat term: dvar's),
    "constant-batch-statistics" (neither: dx = gamma dout / sigma, the test-mode formula)."""
    N = dout.shape[0]
    sign = 1 if absolute else -1
    dx_hat = dout * gamma
    total = N * dx_hat
    if bug not in ("missing-mean-term", "constant-batch-statistics"):
        total = total + sign * np.sum(dx_hat, axis=0)
    if bug not in ("missing-variance-term", "constant-batch-statistics"):
        total = total + sign * x_hat * np.sum(dx_hat * x_hat, axis=0)
    return {"dx": total * inv_sigma / N, "dgamma": np.sum(dout * x_hat, axis=0), "dbeta": np.sum(dout, axis=0)}
