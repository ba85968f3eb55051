"""Basic RNN (course 5, week 1): cell and sequence forward, and the hand-written backward through time.

Contract
    The course's layout: x (n_x, m, T_x), time last; a0 (n_a, m); parameters = {"Wax" (n_a, n_x),
    "Waa" (n_a, n_a), "Wya" (n_y, n_a), "ba" (n_a, 1), "by" (n_y, 1)}; softmax is over axis 0.
    Gradients sum over the examples (no 1/m), as in the course. rnn_backward takes da (n_a, m, T_x),
    the gradient of the cost with respect to every a<t> directly (through y<t> and whatever
    else reads a<t>), and adds to it what flows back from step t + 1:
        da_next<t> = da[:, :, t] + da_prev<t+1>,     da_prev<T_x + 1> = 0
    The loops over t are lax.scan (reverse=True backward). rnn_forward returns caches =
    (RNNCaches, x): the cell caches stacked along a last time axis, not the course's list of
    T_x tuples; rnn_caches_as_list gives that list and rnn_backward accepts either form.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxbp.activations import softmax, tanh
from jaxbp.layers import _validate as check

RNN_KEYS = {"Wax": ("n_a", "n_x"), "Waa": ("n_a", "n_a"), "Wya": ("n_y", "n_a"), "ba": ("n_a", 1), "by": ("n_y", 1)}
RNN_CELL_CACHE = ("a_next", "a_prev", "xt", "parameters")


class RNNCaches(NamedTuple):
    """rnn_forward's cell caches stacked over time: step t's is (a_next, a_prev, xt)[..., t] and parameters."""

    a_next: jax.Array  # (n_a, m, T_x)
    a_prev: jax.Array  # (n_a, m, T_x)   a_prev[..., 0] = a0
    xt: jax.Array  # (n_x, m, T_x)
    parameters: dict  # shared by every step


def rnn_cell_forward(xt, a_prev, parameters):
    """One RNN step; returns (a_next, yt_pred, cache).

        a_next  = tanh(Waa a_prev + Wax xt + ba)      (n_a, m)
        yt_pred = softmax(Wya a_next + by)            (n_y, m)
        cache   = (a_next, a_prev, xt, parameters)
    """
    _cell_dims(xt, a_prev, parameters)
    p = parameters
    a_next = tanh(p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"])  # (n_a, m)
    yt_pred = softmax(p["Wya"] @ a_next + p["by"])  # (n_y, m)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_forward(x, a0, parameters):
    """The RNN over a sequence, rnn_cell_forward at t = 1..T_x; returns (a, y_pred, caches).

        a<t>, y_pred<t> = rnn_cell_forward(x<t>, a<t-1>),  a<0> = a0
        a (n_a, m, T_x),  y_pred (n_y, m, T_x),  caches = (RNNCaches, x)
    """
    dims = check.array("x", x, ("n_x", "m", "T_x"), {})
    dims = check.array("a0", a0, ("n_a", "m"), dims, dtype=("x", x.dtype))
    check.params("parameters", parameters, RNN_KEYS, dims, dtype=("x", x.dtype))
    if dims["T_x"] < 1:
        raise ValueError(f"x must have T_x >= 1 time steps, got shape {tuple(x.shape)}")

    def step(a_prev, xt):
        a_next, yt_pred, _ = rnn_cell_forward(xt, a_prev, parameters)
        return a_next, (a_next, yt_pred, a_prev)

    _, stacked = lax.scan(step, a0, time_first(x))
    a, y_pred, a_prev = map(time_last, stacked)  # (n_a, m, T_x), (n_y, m, T_x), (n_a, m, T_x)
    return a, y_pred, (RNNCaches(a, a_prev, x, parameters), x)


def rnn_cell_backward(da_next, cache):
    """Backward step through rnn_cell_forward's a_next; returns the course's gradients dict.

        dz      = (1 - a_next^2) * da_next      (n_a, m)     tanh' at z = Waa a_prev + Wax xt + ba
        dxt     = Wax.T dz                      (n_x, m)
        dWax    = dz xt.T                       (n_a, n_x)
        da_prev = Waa.T dz                      (n_a, m)
        dWaa    = dz a_prev.T                   (n_a, n_a)
        dba     = sum over examples dz          (n_a, 1)
    (the course names dz "dtanh"; yt_pred's path is not included: da_next already holds it).
    """
    a_next, a_prev, xt, parameters = check.tuple_of("cache", cache, RNN_CELL_CACHE)
    dims = _cell_dims(xt, a_prev, parameters)
    check.array("da_next", da_next, ("n_a", "m"), dims, dtype=("xt", xt.dtype))
    dz = (1 - a_next**2) * da_next  # (n_a, m)
    return {
        "dxt": parameters["Wax"].T @ dz,
        "da_prev": parameters["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": jnp.sum(dz, axis=1, keepdims=True),
    }


def rnn_backward(da, caches):
    """Backpropagation through time for rnn_forward's a; returns {dx, da0, dWax, dWaa, dba}.

        for t = T_x..1:
            g = rnn_cell_backward(da[:, :, t] + da_prev<t+1>, cache<t>)    da_prev<T_x+1> = 0
            dx[:, :, t] = g.dxt;  da_prev<t> = g.da_prev
            dWax += g.dWax;  dWaa += g.dWaa;  dba += g.dba
        da0 = da_prev<1>
    dx (n_x, m, T_x), da0 (n_a, m), dWax (n_a, n_x), dWaa (n_a, n_a), dba (n_a, 1).
    caches: rnn_forward's (RNNCaches, x) or the course's (list of cell caches, x).
    """
    stack, x = rnn_caches_as_stack(caches)
    dims = check.array("caches' a", stack.a_next, ("n_a", "m", "T_x"), {})
    check.array("da", da, ("n_a", "m", "T_x"), dims, dtype=("caches' a", stack.a_next.dtype))
    parameters = stack.parameters
    zeros = {k: jnp.zeros_like(parameters[k[1:]]) for k in ("dWax", "dWaa", "dba")}

    def step(carry, inputs):
        da_prevt, grads = carry
        da_t, a_next, a_prev, xt = inputs
        g = rnn_cell_backward(da_t + da_prevt, (a_next, a_prev, xt, parameters))
        return (g["da_prev"], {k: grads[k] + g[k] for k in grads}), g["dxt"]

    init = (jnp.zeros_like(stack.a_next[:, :, 0]), zeros)
    (da0, grads), dx = lax.scan(step, init, tuple(map(time_first, (da, stack.a_next, stack.a_prev, stack.xt))),
                                reverse=True)
    return {"dx": time_last(dx), "da0": da0, **grads}


def rnn_caches_as_list(caches):
    """The course's caches, (list of T_x cell caches, x), from rnn_forward's stacked ones (or the list itself)."""
    return caches_as_list(caches, RNNCaches)


def rnn_caches_as_stack(caches):
    """rnn_forward's stacked caches, (RNNCaches, x), from the course's list form (or the stack itself)."""
    return caches_as_stack(caches, RNNCaches)


def caches_as_list(caches, Stack):
    """(list of cell caches, x) from (Stack, x): step t's cache is every array field at [..., t]."""
    stack, x = caches_as_stack(caches, Stack)
    return [tuple(v if k == "parameters" else v[..., t] for k, v in zip(Stack._fields, stack, strict=True))
            for t in range(x.shape[2])], x


def caches_as_stack(caches, Stack):
    """(Stack, x) from (list of cell caches, x): every array field stacked along a last time axis."""
    steps, x = check.tuple_of("caches", caches, ("caches", "x"))
    if isinstance(steps, Stack):
        return steps, x
    if not isinstance(steps, (list, tuple)) or not steps:
        raise TypeError(f"caches[0] must be a {Stack.__name__} or a non-empty list of cell caches, got "
                        f"{type(steps).__name__}")
    steps = [check.tuple_of(f"caches[0][{t}]", c, Stack._fields) for t, c in enumerate(steps)]
    fields = zip(Stack._fields, zip(*steps, strict=True), strict=True)
    return Stack(*(v[0] if k == "parameters" else jnp.stack(v, axis=-1) for k, v in fields)), x


def time_first(x):
    """(..., T_x) -> (T_x, ...): lax.scan walks the leading axis."""
    return jnp.moveaxis(x, -1, 0)


def time_last(x):
    """(T_x, ...) -> (..., T_x): back to the course's layout."""
    return jnp.moveaxis(x, 0, -1)


def _cell_dims(xt, a_prev, parameters):
    """Validate one cell's inputs; return dims {n_x, m, n_a, n_y}."""
    dims = check.array("xt", xt, ("n_x", "m"), {})
    dims = check.array("a_prev", a_prev, ("n_a", "m"), dims, dtype=("xt", xt.dtype))
    return check.params("parameters", parameters, RNN_KEYS, dims, dtype=("xt", xt.dtype))
