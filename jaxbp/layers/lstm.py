"""LSTM (course 5, week 1): cell and sequence forward, and the hand-written backward through time.

Contract
    As rnn.py: x (n_x, m, T_x), a0 (n_a, m), time last, softmax over axis 0, gradients summed over
    the examples (no 1/m). parameters = {"Wf", "Wi", "Wc", "Wo" (n_a, n_a + n_x); "bf", "bi",
    "bc", "bo" (n_a, 1); "Wy" (n_y, n_a); "by" (n_y, 1)}, each gate reading concat = [a_prev; xt]
    (n_a + n_x, m), a_prev on top. c<0> = 0. lstm_backward takes da (n_a, m, T_x), the cost's
    gradient with respect to each a<t> directly, and the cost reads no c<t> directly, so
        da_next<t> = da[:, :, t] + da_prev<t+1>,   dc_next<t> = dc_prev<t+1>,   both 0 past T_x.
    lstm_forward returns caches = (LSTMCaches, x), the cell caches stacked along a last time
    axis; lstm_caches_as_list gives the course's list and lstm_backward accepts either form.

What the published (2018) notebook got wrong, as its reported errata list them (the notebook
itself is not quoted here), and this file writes correctly
    - missing brackets: dc̃ and dΓ_f must multiply the whole sum (dc_next + Γ_o (1 - tanh²(c_next)) da_next)
      by their factors, not only its second term;
    - dc̃ used 1 - tanh(c̃)² where tanh' at c̃'s pre-activation is 1 - c̃² (c̃ is already a tanh);
    - dΓ_f used c̃_prev where the forget gate multiplies c_prev;
    - da_prev / dxt sliced rows Wf[:n_a, :] where the columns Wf[:, :n_a] (a_prev's block of concat) are meant;
    - its lstm_backward (and the expected output printed with it) passed da[:, :, t] alone
      and never carried da_prev and dc_prev from step t + 1 to step t.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxbp.activations import sigmoid, softmax, tanh
from jaxbp.layers import _validate as check
from jaxbp.layers.rnn import caches_as_list, caches_as_stack, time_first, time_last

GATES = ("f", "i", "c", "o")  # forget, update (input), candidate, output
LSTM_KEYS = {**{f"W{g}": ("n_a", "n_a + n_x") for g in GATES}, **{f"b{g}": ("n_a", 1) for g in GATES},
             "Wy": ("n_y", "n_a"), "by": ("n_y", 1)}
LSTM_CELL_CACHE = ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt", "parameters")


class LSTMCaches(NamedTuple):
    """lstm_forward's cell caches stacked over time: every array field's [..., t] is step t's."""

    a_next: jax.Array  # (n_a, m, T_x)
    c_next: jax.Array  # (n_a, m, T_x)
    a_prev: jax.Array  # (n_a, m, T_x)   a_prev[..., 0] = a0
    c_prev: jax.Array  # (n_a, m, T_x)   c_prev[..., 0] = 0
    ft: jax.Array  # (n_a, m, T_x)
    it: jax.Array  # (n_a, m, T_x)
    cct: jax.Array  # (n_a, m, T_x)
    ot: jax.Array  # (n_a, m, T_x)
    xt: jax.Array  # (n_x, m, T_x)
    parameters: dict  # shared by every step


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One LSTM step; returns (a_next, c_next, yt_pred, cache).

        concat  = [a_prev; xt]                     (n_a + n_x, m)
        ft      = sigmoid(Wf concat + bf)          (n_a, m)   forget gate Γ_f
        it      = sigmoid(Wi concat + bi)          (n_a, m)   update gate Γ_u
        cct     = tanh(Wc concat + bc)             (n_a, m)   candidate c̃
        c_next  = ft * c_prev + it * cct           (n_a, m)
        ot      = sigmoid(Wo concat + bo)          (n_a, m)   output gate Γ_o
        a_next  = ot * tanh(c_next)                (n_a, m)
        yt_pred = softmax(Wy a_next + by)          (n_y, m)
        cache   = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    """
    _cell_dims(xt, a_prev, c_prev, parameters)
    p = parameters
    concat = jnp.concatenate([a_prev, xt], axis=0)  # (n_a + n_x, m)
    ft = sigmoid(p["Wf"] @ concat + p["bf"])
    it = sigmoid(p["Wi"] @ concat + p["bi"])
    cct = tanh(p["Wc"] @ concat + p["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(p["Wo"] @ concat + p["bo"])
    a_next = ot * tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"])  # (n_y, m)
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)


def lstm_forward(x, a0, parameters):
    """The LSTM over a sequence, lstm_cell_forward at t = 1..T_x from c<0> = 0; returns (a, y, c, caches).

        a<t>, c<t>, y<t> = lstm_cell_forward(x<t>, a<t-1>, c<t-1>),  a<0> = a0, c<0> = 0
        a, c (n_a, m, T_x),  y (n_y, m, T_x),  caches = (LSTMCaches, x)
    """
    dims = check.array("x", x, ("n_x", "m", "T_x"), {})
    dims = check.array("a0", a0, ("n_a", "m"), dims, dtype=("x", x.dtype))
    check.params("parameters", parameters, LSTM_KEYS, {**dims, "n_a + n_x": dims["n_a"] + dims["n_x"]},
                 dtype=("x", x.dtype))
    if dims["T_x"] < 1:
        raise ValueError(f"x must have T_x >= 1 time steps, got shape {tuple(x.shape)}")

    def step(carry, xt):
        a_prev, c_prev = carry
        a_next, c_next, yt, cache = lstm_cell_forward(xt, a_prev, c_prev, parameters)
        return (a_next, c_next), (yt, cache[:-1])

    _, (y, stacked) = lax.scan(step, (a0, jnp.zeros_like(a0)), time_first(x))
    stack = LSTMCaches(*map(time_last, stacked), parameters)
    return stack.a_next, time_last(y), stack.c_next, (stack, x)


def lstm_cell_backward(da_next, dc_next, cache):
    """Backward step through lstm_cell_forward's a_next and c_next; returns the course's gradients dict.

        dc      = dc_next + da_next * ot * (1 - tanh(c_next)^2)     (n_a, m)  all the gradient reaching c_next
        dot     = da_next * tanh(c_next) * ot * (1 - ot)           (n_a, m)  at Wo concat + bo
        dcct    = dc * it * (1 - cct^2)                            (n_a, m)  at Wc concat + bc
        dit     = dc * cct * it * (1 - it)                         (n_a, m)  at Wi concat + bi
        dft     = dc * c_prev * ft * (1 - ft)                      (n_a, m)  at Wf concat + bf
        dWg     = dgt concat.T,  dbg = sum over examples dgt       (n_a, n_a + n_x), (n_a, 1)  for g in f, i, c, o
        dconcat = Wf.T dft + Wi.T dit + Wc.T dcct + Wo.T dot       (n_a + n_x, m)
        da_prev = dconcat[:n_a]     (= sum_g Wg[:, :n_a].T dgt)     (n_a, m)
        dxt     = dconcat[n_a:]     (= sum_g Wg[:, n_a:].T dgt)     (n_x, m)
        dc_prev = dc * ft                                          (n_a, m)
    (yt_pred's path is not included: da_next already holds it; see the module for the
    published version's errors.)
    """
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters = check.tuple_of("cache", cache, LSTM_CELL_CACHE)
    dims = _cell_dims(xt, a_prev, c_prev, parameters)
    check.array("da_next", da_next, ("n_a", "m"), dims, dtype=("xt", xt.dtype))
    check.array("dc_next", dc_next, ("n_a", "m"), dims, dtype=("xt", xt.dtype))
    p, n_a = parameters, dims["n_a"]
    concat = jnp.concatenate([a_prev, xt], axis=0)  # (n_a + n_x, m)
    tanh_c = tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c**2)
    dgates = {
        "o": da_next * tanh_c * ot * (1 - ot),
        "c": dc * it * (1 - cct**2),
        "i": dc * cct * it * (1 - it),
        "f": dc * c_prev * ft * (1 - ft),
    }
    dconcat = sum(p[f"W{g}"].T @ dgates[g] for g in GATES)  # (n_a + n_x, m)
    return {
        "dxt": dconcat[n_a:],
        "da_prev": dconcat[:n_a],
        "dc_prev": dc * ft,
        **{f"dW{g}": dgates[g] @ concat.T for g in GATES},
        **{f"db{g}": jnp.sum(dgates[g], axis=1, keepdims=True) for g in GATES},
    }


def lstm_backward(da, caches):
    """Backpropagation through time for lstm_forward's a; returns {dx, da0, dWf..dWo, dbf..dbo}.

        for t = T_x..1:
            g = lstm_cell_backward(da[:, :, t] + da_prev<t+1>, dc_prev<t+1>, cache<t>)   both 0 at T_x + 1
            dx[:, :, t] = g.dxt;  da_prev<t>, dc_prev<t> = g.da_prev, g.dc_prev
            dWg += g.dWg;  dbg += g.dbg                  for g in f, i, c, o
        da0 = da_prev<1>
    dx (n_x, m, T_x), da0 (n_a, m), dWg (n_a, n_a + n_x), dbg (n_a, 1); no dc0, as in the course
    (c<0> = 0 is not a parameter). caches: lstm_forward's (LSTMCaches, x) or the course's list form.
    """
    stack, x = lstm_caches_as_stack(caches)
    dims = check.array("caches' a", stack.a_next, ("n_a", "m", "T_x"), {})
    check.array("da", da, ("n_a", "m", "T_x"), dims, dtype=("caches' a", stack.a_next.dtype))
    parameters = stack.parameters
    zeros = {f"d{k}": jnp.zeros_like(parameters[k]) for g in GATES for k in (f"W{g}", f"b{g}")}

    def step(carry, inputs):
        da_prevt, dc_prevt, grads = carry
        da_t, *cache = inputs
        g = lstm_cell_backward(da_t + da_prevt, dc_prevt, (*cache, parameters))
        return (g["da_prev"], g["dc_prev"], {k: grads[k] + g[k] for k in grads}), g["dxt"]

    zero_a = jnp.zeros_like(stack.a_next[:, :, 0])
    (da0, _, grads), dx = lax.scan(step, (zero_a, zero_a, zeros), tuple(map(time_first, (da, *stack[:-1]))),
                                   reverse=True)
    return {"dx": time_last(dx), "da0": da0, **grads}


def lstm_caches_as_list(caches):
    """The course's caches, (list of T_x cell caches, x), from lstm_forward's stacked ones (or the list itself)."""
    return caches_as_list(caches, LSTMCaches)


def lstm_caches_as_stack(caches):
    """lstm_forward's stacked caches, (LSTMCaches, x), from the course's list form (or the stack itself)."""
    return caches_as_stack(caches, LSTMCaches)


def _cell_dims(xt, a_prev, c_prev, parameters):
    """Validate one cell's inputs; return dims {n_x, m, n_a, n_y, n_a + n_x}."""
    dims = check.array("xt", xt, ("n_x", "m"), {})
    dims = check.array("a_prev", a_prev, ("n_a", "m"), dims, dtype=("xt", xt.dtype))
    dims = check.array("c_prev", c_prev, ("n_a", "m"), dims, dtype=("xt", xt.dtype))
    dims["n_a + n_x"] = dims["n_a"] + dims["n_x"]
    return check.params("parameters", parameters, LSTM_KEYS, dims, dtype=("xt", xt.dtype))
