"""The kinds of mistake a layer check names, and what the first pass needs: shapes, constants, axis swaps.

Contract
    An output that is not ok gets exactly one kind of KINDS, tried in this order (verdicts.py):
        missing, shape (and its specific forms: padding-not-stripped, empty-pad-slice,
        not-summed-over-examples, transpose), nonfinite, a constant factor (sign, extra-1/m,
        bias-in-window-sum, average-not-divided, scale: fitted and snapped to the layer's
        constants m, N, f·f, f·f·n_C_prev, m·n_H·n_W, then jaxbp.checking.diagnose.snap's 2, 1/2, ...),
        transpose (two equal axes swapped), a candidate (candidates.py: the course's backward with one
        piece swapped), zeros, unexplained.
    Every "u equals r (or a candidate)" test is jaxbp.checking.compare's bound, ||u - r|| <= GROWTH u_p ||M||.
"""

import itertools

from jaxbp.checking import diagnose
from jaxbp.checking.layer_check.problems import GATES, family

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
