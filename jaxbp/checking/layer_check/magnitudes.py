"""The magnitudes M of jaxbp.checking.compare's bound, ||u - r|| <= GROWTH u_p ||M||, for every output of a case.

Contract
    M = B(|v|) + D B(|v|)[E]: the course's backward (loops.py, recurrent.py) evaluated on absolute values,
    plus its derivative along the error magnitudes E of the forward values it reads (loops.py's module
    docstring has the rules); E is also the forward outputs' own M. Through time, step by step
    (recurrent.py's module docstring). Computed once per (layer, seed, dtype).
"""

import functools

import numpy as np

from jaxbp.checking.layer_check import loops, recurrent
from jaxbp.checking.layer_check.candidates import as_float64
from jaxbp.checking.layer_check.kinds import FORWARD
from jaxbp.checking.layer_check.problems import family, problem


def _magnitudes(layer, case):
    """{output: M} for one case: the backward's (loops.py's module docstring) and the forward outputs' E."""
    (i, u), fam = as_float64(case), family(layer)
    A = lambda d: {k: np.abs(v) for k, v in d.items()}  # noqa: E731
    if fam == "conv":
        hp = i["hparameters"]
        Z = loops.conv_forward(np.abs(i["A_prev"]), np.abs(i["W"]), np.abs(i["b"]), hp["stride"], hp["pad"])
        return {"Z": Z, **loops.conv_backward(np.abs(u["dZ"]), np.abs(i["A_prev"]), np.abs(i["W"]), hp["stride"],
                                              hp["pad"])}
    if fam == "pool":
        hp = i["hparameters"]
        A_out = (np.abs(loops.pool_forward(i["A_prev"], hp["f"], hp["stride"], "max")) if case.mode == "max"
                 else loops.pool_forward(np.abs(i["A_prev"]), hp["f"], hp["stride"], "average"))
        return {"A": A_out, **loops.pool_backward(np.abs(u["dA"]), i["A_prev"], hp["f"], hp["stride"], case.mode)}
    if fam == "batchnorm":
        v, E = loops.batchnorm_statistics(i["x"], i["gamma"], i["beta"], i["bn_param"]["eps"])
        backward = lambda s: loops.batchnorm_backward(np.abs(u["dout"]), s["x_hat"], s["inv_sigma"],  # noqa: E731
                                                      np.abs(i["gamma"]), absolute=True)
        return {"out": E["out"], **loops.with_forward_errors(backward, A(v), E)}
    return _recurrent_magnitudes(fam, i, u)


def _recurrent_magnitudes(fam, i, u):
    """The recurrent layers' M, step by step (recurrent.py's module docstring): step t of the forward weighs
    t + 1, the k-th step of the backward k + 1; each step's cell on magnitudes at the exact gradients it
    receives, plus its derivative along its cached values' errors E."""
    steps, p = recurrent.steps_of(fam, i), i["parameters"]
    local = (recurrent.rnn_forward_errors if fam.startswith("rnn") else recurrent.lstm_forward_errors)(steps, p)
    T_x = len(steps)
    E = [{k: (t + 1) * v for k, v in local[t].items()} for t in range(T_x)]
    for t in range(1, T_x):
        E[t]["a_prev"] = E[t - 1]["a_next"]
        if fam.startswith("lstm"):
            E[t]["c_prev"] = E[t - 1]["c_next"]
    received = {}
    if fam.endswith("cell"):
        received[0] = (u["da_next"], u.get("dc_next", 0 * u["da_next"]))
    else:
        recurrent.backward(fam, p, u, steps, record=received)
    abs_p = {k: np.abs(v) for k, v in p.items()}
    M = {}
    for t in range(T_x):
        weight = T_x - t  # the k-th step of the backward (k = T_x - 1 - t) weighs k + 1
        da_next, dc_next = (np.abs(g) for g in received[t])
        if fam.startswith("rnn"):
            def cell(s, da_next=da_next):
                return recurrent.rnn_cell_backward(da_next, s, abs_p, absolute=True)
        else:
            def cell(s, da_next=da_next, dc_next=dc_next):
                return recurrent.lstm_cell_backward(da_next, dc_next, s, abs_p, absolute=True)
        g = loops.with_forward_errors(cell, {k: np.abs(v) for k, v in steps[t].items()}, E[t])
        for k, v in g.items():
            if k.startswith(("dW", "db")):
                M[k] = M.get(k, 0) + weight * v
        M.setdefault("dx", [None] * T_x)[t] = weight * g["dxt"]
        if t == 0:
            M["da0"] = weight * g["da_prev"]
            M.update({k: g[k] for k in ("dxt", "da_prev", "dc_prev") if k in g})
    if fam.endswith("cell"):
        M.pop("dx"), M.pop("da0")
        return {**{k: E[0][k] for k in FORWARD[fam]}, **M}
    for k in ("dxt", "da_prev", "dc_prev"):
        M.pop(k, None)
    M["dx"] = np.stack(M["dx"], axis=-1)
    seq = {"a": np.stack([e["a_next"] for e in E], -1)}
    if fam == "lstm":
        seq["c"] = np.stack([e["c_next"] for e in E], -1)
    return {**seq, **M}


@functools.cache
def magnitudes(layer, seed, dtype):
    """Per case, {output: M}: loops.py's B(|v|) + D B(|v|)[E] for the backward, E for the forward outputs."""
    return tuple(_magnitudes(layer, c) for c in problem(layer, seed, dtype))
