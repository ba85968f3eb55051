"""The candidates a wrong output is compared with: the course's backward with one piece swapped for a mistake.

Contract
    backward_of(layer, case, bug) runs the NumPy loops (loops.py, recurrent.py) on the case's inputs in
    float64; CANDIDATES lists, per layer family, (bug, kind, message[, pooling mode]). The message may hold
    "{}" for the output's name. Candidates are computed once per (layer, seed, dtype), and only when an
    output is wrong; verdicts.py matches them greedily (most outputs first), as
    jaxbp.checking.diagnose.explain does, so one mistake explains every output it reaches.
"""

import functools

import numpy as np

from jaxbp.checking.layer_check import loops, recurrent
from jaxbp.checking.layer_check.problems import family, problem


def as_float64(case):
    """(inputs, upstream) of the case as float64 (the exact values the learner got)."""
    cast = lambda v: {k: cast(x) for k, x in v.items()} if isinstance(v, dict) else (  # noqa: E731
        np.asarray(v, np.float64) if isinstance(v, np.ndarray) else v)
    return cast(case.inputs), cast(case.upstream)


def backward_of(layer, case, *, bug=None):
    """The course's backward of one case in NumPy float64 (outputs by the course's names), one piece swapped by bug."""
    (i, u), fam = as_float64(case), family(layer)
    if fam == "conv":
        hp = i["hparameters"]
        return loops.conv_backward(u["dZ"], i["A_prev"], i["W"], hp["stride"], hp["pad"], bug=bug)
    if fam == "pool":
        hp = i["hparameters"]
        return loops.pool_backward(u["dA"], i["A_prev"], hp["f"], hp["stride"], case.mode, bug=bug)
    if fam == "batchnorm":
        v = loops.batchnorm_statistics(i["x"], i["gamma"], i["beta"], i["bn_param"]["eps"])[0]
        return loops.batchnorm_backward(u["dout"], v["x_hat"], v["inv_sigma"], i["gamma"], bug=bug)
    return recurrent.backward(fam, i["parameters"], u, recurrent.steps_of(fam, i), bug=bug)


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
    """Per case, [(kind, message, {output: array})] for each recognised mistake that applies to the case."""
    fam = family(layer)
    return tuple([(kind, message, backward_of(layer, case, bug=bug)) for bug, kind, message, *mode in CANDIDATES[fam]
                  if not mode or mode[0] == case.mode] for case in problem(layer, seed, dtype))
