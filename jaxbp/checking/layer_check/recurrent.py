"""The course's RNN and LSTM backwards in NumPy float64: cells, the loop through time, the forward's steps.

Contract
    As loops.py: one piece swappable (bug=...) for the candidates, and absolute=True for the magnitudes,
    each 1 - x written 1 + x. Through time, B(|v|) would compound |W|'s gain at every step (for the
    LSTM here 10^5 looser than the rounding it bounds), so magnitudes.py evaluates each step alone, at
    the exact gradient it receives (through_time's record) and its cached values, with the local error
    magnitudes of rnn_forward_errors / lstm_forward_errors, and weighs the steps by the rounding their
    inputs carry: step t of the forward by t + 1, the k-th step of the backward by k + 1. That is, the
    relative error of the carried a, c, da_prev, dc_prev grows by one step's local rounding per step:
    true when the Jacobians through time do not amplify the rounding more than the gradient itself,
    which holds for these well-conditioned problems and is measured (tests/test_check_layers.py).
"""

import numpy as np

from jaxbp.checking.layer_check.loops import one_minus

GATES = ("f", "i", "c", "o")


def rnn_cell_backward(da_next, step, p, *, bug=None, absolute=False):
    """The course's rnn_cell_backward; step = {a_next, a_prev, xt}; bug: "derivative-at-A" (1 - tanh(a_next)^2),
    "missing-activation-derivative" (dz = da_next), "dWaa-from-a_next"."""
    a_next = step["a_next"]
    if bug == "derivative-at-A":
        dtanh = 1 - np.tanh(a_next) ** 2
    else:
        dtanh = 1.0 if bug == "missing-activation-derivative" else one_minus(a_next**2, absolute)
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
    s, om = step, (lambda x: one_minus(x, absolute))  # noqa: E731
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
    with a_prev taken as exact: the local part; magnitudes.py weighs the steps."""
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
    a_prev and c_prev taken as exact: the local part (module docstring); magnitudes.py weighs the steps."""
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


def backward(fam, p, u, steps, *, bug=None, absolute=False, record=None):
    """The recurrent backward of a list of step dicts (one step for a cell); bug may be "carry-..", "add-.."."""
    cell_bug = None if bug and bug.startswith(("carry", "add")) else bug
    if fam.startswith("rnn"):
        def cell(da, dc, step):
            return rnn_cell_backward(da, step, p, bug=cell_bug, absolute=absolute)
    else:
        def cell(da, dc, step):
            return lstm_cell_backward(da, dc, step, p, bug=cell_bug, absolute=absolute)
    if fam.endswith("cell"):
        return cell(u["da_next"], u.get("dc_next", 0 * u["da_next"]), steps[0])
    carry = bug[len("carry-"):] if bug and bug.startswith("carry") else "ac"
    add = bug[len("add-"):] if bug and bug.startswith("add") else "all"
    return through_time(cell, u["da"], steps, carry=carry, add=add, record=record)


def steps_of(fam, i):
    """The forward's per-step values the recurrent backwards read."""
    p = i["parameters"]
    x, a0 = (i["xt"][:, :, None], i["a_prev"]) if fam.endswith("cell") else (i["x"], i["a0"])
    if fam.startswith("rnn"):
        return rnn_forward_steps(x, a0, p)
    return lstm_forward_steps(x, a0, i.get("c_prev", np.zeros_like(a0)), p)
