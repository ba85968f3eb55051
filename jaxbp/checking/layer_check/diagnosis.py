"""Name the mistake in a learner's layer backward: the kinds, the magnitudes M, the candidates.

Contract
    Everything here is NumPy float64 and compares, per case and per output, the learner's array u
    with the exact reference r (exact.py) with Ng's metric and jaxbp.checking.compare's bound:
        ok  iff  ||u - r|| <= GROWTH u_p ||M||    (M from loops.py, p the precision judged in)
    and every "u equals a candidate" test uses the same bound through near(u, candidate, scale).
    An output that is not ok gets exactly one kind of KINDS, tried in this order:
        missing, shape (and its specific forms: padding-not-stripped, empty-pad-slice,
        not-summed-over-examples, transpose), nonfinite, a constant factor (sign, extra-1/m,
        bias-in-window-sum, average-not-divided, scale: fitted and snapped to the layer's
        constants m, N, f·f, f·f·n_C_prev, then 2, 1/2, ...), transpose (two equal axes swapped),
        a candidate (the course's backward with one piece swapped, loops.py), zeros, unexplained.
    Candidates are greedy, as in jaxbp.checking.diagnose.explain: the one reproducing most of a case's
    still-unexplained outputs wins, so one mistake explains every output it reaches.
"""

import functools
import itertools

import numpy as np

from jaxbp.checking import diagnose
from jaxbp.checking.layer_check import loops
from jaxbp.checking.layer_check.problems import GATES, family, problem

KINDS = {
    "ok": "equals the reference up to the rounding of a correct computation in the precision judged",
    "missing": "not returned: a key missing from the gradients dict, None, or a return value that cannot be read",
    "shape": "the wrong shape; the message gives the expected one in the course's symbols and sizes",
    "transpose": "the reference with two axes swapped (n_H and n_W, or a matrix transposed)",
    "nonfinite": "NaN or Inf entries",
    "padding-not-stripped": "conv dA_prev is the padded gradient (m, n_H_prev + 2 pad, n_W_prev + 2 pad, n_C_prev)",
    "empty-pad-slice": "conv dA_prev is empty at pad = 0: X[pad:-pad] is X[0:0]",
    "not-summed-over-examples": "dW or db per example (a leading axis of m), or only the last example's",
    "sign": "−1 × the reference",
    "extra-1/m": "1/m (1/N) × the reference: these layers' backward sums over the examples, no 1/m",
    "bias-in-window-sum": "conv db = f·f·n_C_prev × the reference: dZ added once per window entry",
    "average-not-divided": "average pooling's dA_prev = f·f (or f) × the reference: dA not divided by f·f",
    "scale": "another constant factor (snapped to a recognisable one, or fitted)",
    "stride-ignored": "the windows at (h, w) instead of (h·stride, w·stride) in the backward",
    "not-accumulated": "= where += belongs: overlapping windows, filters or examples overwrite each other",
    "wrong-max-mask": "max pooling's dA not routed to each channel's argmax (mask over all channels, copied, "
                      "averaged, or times the input)",
    "wrong-mode": "average pooling's dA routed as in max pooling (mode ignored)",
    "derivative-at-A": "tanh′ at the activation: 1 − tanh(a)² where a is already tanh(z), so 1 − a² is meant",
    "missing-activation-derivative": "the activation's derivative left out (dz = da_next)",
    "wrong-cache-value": "a cached value from the wrong place (dWaa from a_next, dΓ_f from c_next)",
    "not-carried-through-time": "da_prev (and dc_prev) not passed from step t + 1 to step t",
    "da-not-added": "da[:, :, t] not added to the gradient carried from step t + 1",
    "missing-forget-gate": "dc_prev without its dc_next·Γ_f term, or without the Γ_f factor",
    "missing-brackets": "the 2018 notebook's formulas: a gate's derivative multiplies only the da_next term of dc",
    "missing-mean-term": "batch norm dx without the −Σ dout term (dμ's 1/N term)",
    "missing-variance-term": "batch norm dx without the −x̂ Σ(dout x̂) term (dvar's)",
    "constant-batch-statistics": "batch norm dx = γ dout / σ: μ and σ treated as constants (test mode's formula)",
    "zeros": "all zeros although the reference is not: never written",
    "unexplained": "wrong, and no recognised mistake fits",
}

# The course's outputs, in its order, and their shapes in its symbols.
SHAPES = {
    "conv": {"Z": ("m", "n_H", "n_W", "n_C"), "dA_prev": ("m", "n_H_prev", "n_W_prev", "n_C_prev"),
             "dW": ("f", "f", "n_C_prev", "n_C"), "db": (1, 1, 1, "n_C")},
    "pool": {"A": ("m", "n_H", "n_W", "n_C"), "dA_prev": ("m", "n_H_prev", "n_W_prev", "n_C")},
    "rnn_cell": {"a_next": ("n_a", "m"), "dxt": ("n_x", "m"), "da_prev": ("n_a", "m"), "dWax": ("n_a", "n_x"),
                 "dWaa": ("n_a", "n_a"), "dba": ("n_a", 1)},
    "rnn": {"a": ("n_a", "m", "T_x"), "dx": ("n_x", "m", "T_x"), "da0": ("n_a", "m"), "dWax": ("n_a", "n_x"),
            "dWaa": ("n_a", "n_a"), "dba": ("n_a", 1)},
    "lstm_cell": {"a_next": ("n_a", "m"), "c_next": ("n_a", "m"), "dxt": ("n_x", "m"), "da_prev": ("n_a", "m"),
                  "dc_prev": ("n_a", "m"),
                  **{f"d{q}{g}": ("n_a", "n_a + n_x") if q == "W" else ("n_a", 1) for g in GATES for q in "Wb"}},
    "lstm": {"a": ("n_a", "m", "T_x"), "c": ("n_a", "m", "T_x"), "dx": ("n_x", "m", "T_x"), "da0": ("n_a", "m"),
             **{f"d{q}{g}": ("n_a", "n_a + n_x") if q == "W" else ("n_a", 1) for g in GATES for q in "Wb"}},
    "batchnorm": {"out": ("N", "D"), "dx": ("N", "D"), "dgamma": ("D",), "dbeta": ("D",)},
}
FORWARD = {"conv": ("Z",), "pool": ("A",), "rnn_cell": ("a_next",), "rnn": ("a",), "lstm_cell": ("a_next", "c_next"),
           "lstm": ("a", "c"), "batchnorm": ("out",)}


def backward_outputs(layer):
    fam = family(layer)
    return tuple(n for n in SHAPES[fam] if n not in FORWARD[fam])


def expected_shape(layer, name, dims):
    """("(m, n_H_prev, n_W_prev, n_C_prev)", (3, 4, 6, 2)): the course's symbols and this case's sizes."""
    spec = SHAPES[family(layer)][name]
    return "(" + ", ".join(map(str, spec)) + ("," if len(spec) == 1 else "") + ")", \
        tuple(s if isinstance(s, int) else dims[s] for s in spec)


def _f64(case):
    """The case's inputs and upstream as float64 (the exact values the learner got)."""
    cast = lambda v: {k: cast(x) for k, x in v.items()} if isinstance(v, dict) else (  # noqa: E731
        np.asarray(v, np.float64) if isinstance(v, np.ndarray) else v)
    return cast(case.inputs), cast(case.upstream)


# ---------------------------------------------------------------- magnitudes and candidates, per case
def _backward(layer, case, *, bug=None):
    """The loops.py backward of one case (outputs by the course's names), with one piece swapped by bug."""
    (i, u), fam = _f64(case), family(layer)
    if fam == "conv":
        hp = i["hparameters"]
        return loops.conv_backward(u["dZ"], i["A_prev"], i["W"], hp["stride"], hp["pad"], bug=bug)
    if fam == "pool":
        hp = i["hparameters"]
        return loops.pool_backward(u["dA"], i["A_prev"], hp["f"], hp["stride"], case.mode, bug=bug)
    if fam == "batchnorm":
        v = loops.batchnorm_statistics(i["x"], i["gamma"], i["beta"], i["bn_param"]["eps"])[0]
        return loops.batchnorm_backward(u["dout"], v["x_hat"], v["inv_sigma"], i["gamma"], bug=bug)
    return _recurrent(fam, i["parameters"], u, _steps(fam, i), bug=bug)


def _recurrent(fam, p, u, steps, *, bug=None, absolute=False, record=None):
    """The recurrent backward of a list of step dicts (one step for a cell); bug may be "carry-..", "add-.."."""
    cell_bug = None if bug and bug.startswith(("carry", "add")) else bug
    if fam.startswith("rnn"):
        def cell(da, dc, step):
            return loops.rnn_cell_backward(da, step, p, bug=cell_bug, absolute=absolute)
    else:
        def cell(da, dc, step):
            return loops.lstm_cell_backward(da, dc, step, p, bug=cell_bug, absolute=absolute)
    if fam.endswith("cell"):
        return cell(u["da_next"], u.get("dc_next", 0 * u["da_next"]), steps[0])
    carry = bug[len("carry-"):] if bug and bug.startswith("carry") else "ac"
    add = bug[len("add-"):] if bug and bug.startswith("add") else "all"
    return loops.through_time(cell, u["da"], steps, carry=carry, add=add, record=record)


def _steps(fam, i):
    """The forward's per-step values the recurrent backwards read."""
    p = i["parameters"]
    x, a0 = (i["xt"][:, :, None], i["a_prev"]) if fam.endswith("cell") else (i["x"], i["a0"])
    if fam.startswith("rnn"):
        return loops.rnn_forward_steps(x, a0, p)
    return loops.lstm_forward_steps(x, a0, i.get("c_prev", np.zeros_like(a0)), p)


def _magnitudes(layer, case):
    """{output: M} for one case: the backward's (loops.py's module docstring) and the forward outputs' E."""
    (i, u), fam = _f64(case), family(layer)
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
    """The recurrent layers' M, step by step (loops.py's module docstring): step t of the forward weighs
    t + 1, the k-th step of the backward k + 1; each step's cell on magnitudes at the exact gradients it
    receives, plus its derivative along its cached values' errors E."""
    steps, p = _steps(fam, i), i["parameters"]
    local = (loops.rnn_forward_errors if fam.startswith("rnn") else loops.lstm_forward_errors)(steps, p)
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
        _recurrent(fam, p, u, steps, record=received)
    abs_p = {k: np.abs(v) for k, v in p.items()}
    M = {}
    for t in range(T_x):
        weight = T_x - t  # the k-th step of the backward (k = T_x - 1 - t) weighs k + 1
        da_next, dc_next = (np.abs(g) for g in received[t])
        if fam.startswith("rnn"):
            def cell(s, da_next=da_next):
                return loops.rnn_cell_backward(da_next, s, abs_p, absolute=True)
        else:
            def cell(s, da_next=da_next, dc_next=dc_next):
                return loops.lstm_cell_backward(da_next, dc_next, s, abs_p, absolute=True)
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


# (bug, kind, message) per family; pool's apply to one mode, named in the bug's third field
_CELL_RNN = (("derivative-at-A", "derivative-at-A", "dtanh = 1 − tanh(a_next)²: a_next is already tanh(z), so "
              "tanh′(z) = 1 − a_next²"),
             ("missing-activation-derivative", "missing-activation-derivative", "dz = da_next: the tanh′ factor "
              "(1 − a_next²) is missing"),
             ("dWaa-from-a_next", "wrong-cache-value", "dWaa = dz a_next.T: the weight Waa multiplies a_prev, so "
              "dWaa = dz a_prev.T"))
_CELL_LSTM = (("brackets", "missing-brackets", "dc̃, dΓ_u and dΓ_f multiply their derivative only into the da_next "
               "term, as the 2018 notebook's formulas (an erratum) do: multiply the whole "
               "(dc_next + Γ_o (1 − tanh²(c_next)) da_next) by each gate's factors"),
              ("brackets-c-f", "missing-brackets", "dc̃ and dΓ_f multiply their derivative only into the da_next term "
               "(the 2018 notebook's erratum): bracket the whole (dc_next + Γ_o (1 − tanh²(c_next)) da_next)"),
              ("derivative-at-A", "derivative-at-A", "dc̃ uses 1 − tanh(c̃)²: c̃ is already a tanh, so its "
               "derivative is 1 − c̃² (a 2018 notebook erratum)"),
              ("forget-no-dc_next", "missing-forget-gate", "dc_prev lacks its dc_next·Γ_f term: dc_prev = "
               "(dc_next + Γ_o (1 − tanh²(c_next)) da_next) Γ_f"),
              ("forget-no-ft", "missing-forget-gate", "dc_prev lacks the Γ_f factor: c_next = Γ_f c_prev + ..., so "
               "dc_prev = (dc_next + Γ_o (1 − tanh²(c_next)) da_next) Γ_f"),
              ("dft-from-c_next", "wrong-cache-value", "dΓ_f uses c_next: the forget gate multiplies c_prev"))
_RNN_TIME = (("carry-", "not-carried-through-time", "each step gets da[:, :, t] alone: da_prev is not passed from "
               "step t + 1; call rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])"),)
_LSTM_TIME = (("carry-", "not-carried-through-time", "each step gets da[:, :, t] alone and dc_next = 0: da_prev and "
               "dc_prev are not passed from step t + 1 (the 2018 notebook's lstm_backward); call "
               "lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])"),
              ("carry-c", "not-carried-through-time", "da_prev is not passed from step t + 1: da_next = "
               "da[:, :, t] + da_prevt"),
              ("carry-a", "not-carried-through-time", "dc_prev is not passed from step t + 1: pass step t + 1's "
               "dc_prev as dc_next"))
_ADDED = (("add-none", "da-not-added", "da[:, :, t] is never added: step t's cell gets da_prevt alone; pass "
           "da[:, :, t] + da_prevt"),
          ("add-last", "da-not-added", "only da[:, :, T_x - 1] enters (as the starting da_prevt): add da[:, :, t] to "
           "da_prevt at every step"))
CANDIDATES = {
    "conv": (("stride-ignored", "stride-ignored", "{} matches the backward with windows at (h, w), not (h·stride, "
              "w·stride): vert_start = h * stride, horiz_start = w * stride"),
             ("not-accumulated", "not-accumulated", "{} matches the loop with = where += belongs: every window, "
              "filter c and example i must add its term"),
             ("last-example", "not-summed-over-examples", "{} holds only the last example's terms: it is reset "
              "inside the loop over i; initialise it once, before that loop")),
    "pool": (("stride-ignored", "stride-ignored", "dA_prev matches windows at (h, w), not (h·stride, w·stride): "
              "vert_start = h * stride, horiz_start = w * stride"),
             ("not-accumulated", "not-accumulated", "dA_prev matches the loop with = where += belongs: overlapping "
              "windows must add their dA"),
             ("mask-over-channels", "wrong-max-mask", "the mask is taken over the whole slice a_prev[vs:ve, hs:he, :] "
              "(all channels) and every channel's dA goes to its one max: slice channel c alone", "max"),
             ("mask-over-channels-own", "wrong-max-mask", "the mask is taken over the whole slice "
              "a_prev[vs:ve, hs:he, :] (all channels): slice channel c alone, a_prev[vs:ve, hs:he, c]", "max"),
             ("copied", "wrong-max-mask", "dA is copied to every entry of the window: multiply it by the mask of the "
              "max (create_mask_from_window)", "max"),
             ("averaged", "wrong-max-mask", "max mode, but dA is spread as in average pooling: route it to the max",
              "max"),
             ("times-input", "wrong-max-mask", "dA × mask × the window's values: the mask (x == max(x)) alone "
              "multiplies dA", "max"),
             ("max-routing", "wrong-mode", "average mode routed as max pooling: mode is ignored; average pooling "
              "spreads dA / (f·f) over the window (distribute_value)", "average")),
    "rnn_cell": _CELL_RNN, "lstm_cell": _CELL_LSTM,
    "rnn": _CELL_RNN + _RNN_TIME + _ADDED, "lstm": _CELL_LSTM + _LSTM_TIME + _ADDED,
    "batchnorm": (("missing-mean-term", "missing-mean-term", "dx lacks the −Σ_i dout term: μ depends on every x, "
                   "dx = (γ/(Nσ)) (N dout − Σ dout − x̂ Σ(dout x̂)); in the graph form, dx needs dμ/N"),
                  ("missing-variance-term", "missing-variance-term", "dx lacks the −x̂ Σ_i(dout x̂) term: σ depends on "
                   "every x; in the graph form, dx needs 2 (x − μ) dvar / N"),
                  ("constant-batch-statistics", "constant-batch-statistics", "dx = γ dout / σ: μ and σ are treated as "
                   "constants (test mode's formula); in train mode both depend on x")),
}


@functools.cache
def candidates(layer, seed, dtype):
    """Per case, [(kind, message, {output: array})] for each recognised mistake (loops.py with one piece swapped)."""
    fam, out = family(layer), []
    for case in problem(layer, seed, dtype):
        runs = []
        for bug, kind, message, *mode in CANDIDATES[fam]:
            if not mode or mode[0] == case.mode:
                runs.append((kind, message, _backward(layer, case, bug=bug)))
        out.append(runs)
    return tuple(out)


# ---------------------------------------------------------------- first pass: shape, factor, transpose
def factors(layer, name, dims, mode):
    """[(value, text, kind)]: the constants a wrong output may be a multiple of, most specific first."""
    fam, out = family(layer), []
    is_param = name.startswith(("dW", "db")) or name in ("dgamma", "dbeta")
    if fam == "conv" and name == "db":
        n, k = dims["f"] ** 2 * dims["n_C_prev"], dims["m"] * dims["n_H"] * dims["n_W"]
        out += [(n, f"f·f·n_C_prev = {n}", "bias-in-window-sum"),
                (1 / k, f"1/(m·n_H·n_W) = 1/{k} (np.mean where np.sum belongs)", "scale")]
    if fam == "pool" and mode == "average":
        f = dims["f"]
        out += [(f * f, f"f·f = {f * f}", "average-not-divided"), (f, f"f = {f}", "average-not-divided")]
    if fam == "batchnorm":
        out.append((1 / dims["N"], f"1/N = 1/{dims['N']}", "extra-1/m"))
    elif is_param:
        out.append((1 / dims["m"], f"1/m = 1/{dims['m']}", "extra-1/m"))
    return out


def snap(c, table, m):
    """(value, text, kind) of the constant c equals to 1e-3 relative: the layer's table, then
    jaxbp.checking.diagnose.snap's (m, 1/m, 2, 1/2, ..., −1); (c, None, "scale") when none fits."""
    for value, text, kind in table:
        if abs(c / value - 1) <= 1e-3:
            return value, text, kind
    value, text = diagnose.snap(c, m)
    return value, text, "sign" if text == "−1" else "scale"


def permutations(shape_from, shape_to):
    """The axis permutations (not the identity) taking shape_from to shape_to."""
    n = len(shape_from)
    return [p for p in itertools.permutations(range(n)) if p != tuple(range(n))
            and tuple(shape_from[k] for k in p) == tuple(shape_to)] if n <= 5 else []
