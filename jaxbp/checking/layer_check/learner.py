"""The learner's side: the course's signatures, calling the learner's functions, reading what they return
(what they raise is explained by raised.py).

Calls, with the course's argument conventions (positional, in the course's order):
    conv_forward(A_prev, W, b, hparameters) -> (Z, cache);  conv_backward(dZ, cache) -> (dA_prev, dW, db)
    pool_forward(A_prev, hparameters, mode=mode) -> (A, cache);  pool_backward(dA, cache, mode=mode) -> dA_prev
    rnn_cell_forward(xt, a_prev, parameters) -> (a_next, yt_pred, cache);  rnn_cell_backward(da_next, cache) -> dict
    rnn_forward(x, a0, parameters) -> (a, y_pred, caches);  rnn_backward(da, caches) -> dict
    lstm_cell_forward(xt, a_prev, c_prev, parameters) -> (a_next, c_next, yt_pred, cache);
        lstm_cell_backward(da_next, dc_next, cache) -> dict
    lstm_forward(x, a0, parameters) -> (a, y, c, caches);  lstm_backward(da, caches) -> dict
    batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache);
        batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache) -> (dx, dgamma, dbeta)
A dict's keys are the course's (dxt, da_prev, dWax, ...; dx, da0, ...); extra keys are ignored.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from jaxbp.checking.layer_check.kinds import FORWARD
from jaxbp.checking.layer_check.problems import family
from jaxbp.checking.layer_check.raised import describe, explain


@dataclass(frozen=True)
class Signature:
    forward: str
    forward_args: tuple
    forward_returns: tuple
    backward: str
    backward_args: tuple
    backward_returns: str  # "tuple", "array" or "dict"
    cache: str  # the course's cache, for hints


SIGNATURES = {
    "conv": Signature("conv_forward", ("A_prev", "W", "b", "hparameters"), ("Z", "cache"), "conv_backward",
                      ("dZ", "cache"), "tuple", "(A_prev, W, b, hparameters)"),
    "pool": Signature("pool_forward", ("A_prev", "hparameters"), ("A", "cache"), "pool_backward", ("dA", "cache"),
                      "array", "(A_prev, hparameters)"),
    "rnn_cell": Signature("rnn_cell_forward", ("xt", "a_prev", "parameters"), ("a_next", "yt_pred", "cache"),
                          "rnn_cell_backward", ("da_next", "cache"), "dict", "(a_next, a_prev, xt, parameters)"),
    "rnn": Signature("rnn_forward", ("x", "a0", "parameters"), ("a", "y_pred", "caches"), "rnn_backward",
                     ("da", "caches"), "dict", "(list of T_x cell caches (a_next, a_prev, xt, parameters), x)"),
    "lstm_cell": Signature("lstm_cell_forward", ("xt", "a_prev", "c_prev", "parameters"),
                           ("a_next", "c_next", "yt_pred", "cache"), "lstm_cell_backward",
                           ("da_next", "dc_next", "cache"),
                           "dict", "(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)"),
    "lstm": Signature("lstm_forward", ("x", "a0", "parameters"), ("a", "y", "c", "caches"), "lstm_backward",
                      ("da", "caches"), "dict", "(list of T_x lstm cell caches, x)"),
    "batchnorm": Signature("batchnorm_forward", ("x", "gamma", "beta", "bn_param"), ("out", "cache"),
                           "batchnorm_backward", ("dout", "cache"), "tuple", "your own"),
}
BY_NAME = {"conv_backward": "conv", "pool_backward": "pool", "rnn_cell_backward": "rnn_cell",
           "rnn_backward": "rnn", "lstm_cell_backward": "lstm_cell", "lstm_backward": "lstm",
           "batchnorm_backward": "batchnorm", "batchnorm_backward_alt": "batchnorm_alt"}


class LayerCodeError(Exception):
    """The learner's forward or backward raised, or could not be called; str(err) is the explanation."""

    exit_code = 3


@dataclass(frozen=True)
class Missing:
    """An output the learner did not return (or that cannot be read as an array)."""

    message: str


def signature(layer):
    s = SIGNATURES[family(layer)]
    if layer == "batchnorm_alt":
        s = dataclasses.replace(s, backward="batchnorm_backward_alt")
    return s


# ---------------------------------------------------------------- calling and reading
def call(fn, course_name, args, kwargs, context):
    """fn(*args.values(), **kwargs); a LayerCodeError with the explanation when it raises."""
    try:
        return fn(*args.values(), **kwargs)
    except Exception as err:
        text = explain(err, fn, course_name, args, kwargs, {**context, "signature": signature(context["layer"])})
        raise LayerCodeError(text) from err


def read_backward(layer, out, names):
    """{name: array or Missing} from what the learner's backward returned."""
    sig = signature(layer)
    fn = sig.backward
    if sig.backward_returns == "array":
        if isinstance(out, (tuple, list, dict)) or out is None:
            return {names[0]: Missing(f"{fn} must return {names[0]} (an array); got {describe(out)}")}
        return {names[0]: as_array(names[0], out)}
    if sig.backward_returns == "tuple":
        if not isinstance(out, (tuple, list)) or len(out) != len(names):
            why = Missing(f"{fn} must return ({', '.join(names)}); got {describe(out)}")
            return dict.fromkeys(names, why)
        return {n: as_array(n, v) for n, v in zip(names, out, strict=True)}
    if not isinstance(out, dict):
        return dict.fromkeys(names, Missing(f"{fn} must return the course's gradients dict {{{', '.join(names)}}}; "
                                            f"got {describe(out)}"))
    have = ", ".join(map(str, out)) or "none"
    return {n: as_array(n, out[n]) if n in out else Missing(f"the gradients dict has no key {n!r} (its keys: {have})")
            for n in names}


def read_forward(layer, out):
    """({checked output: array or Missing}, cache or Missing) from what the learner's forward returned."""
    sig, fam = signature(layer), family(layer)
    if not isinstance(out, (tuple, list)) or len(out) != len(sig.forward_returns):
        why = Missing(f"{sig.forward} must return ({', '.join(sig.forward_returns)}); got {describe(out)}")
        return dict.fromkeys(FORWARD[fam], why), why
    values = dict(zip(sig.forward_returns, out, strict=True))
    return {n: as_array(n, values[n]) for n in FORWARD[fam]}, values[sig.forward_returns[-1]]


def as_array(name, x):
    """x as a NumPy array (integers as float64), or Missing saying why not."""
    if x is None:
        return Missing(f"{name} is None: was it computed and stored?")
    try:
        a = np.asarray(x)
    except Exception:  # noqa: BLE001 (a ragged list, an object that is no array)
        return Missing(f"{name} is {describe(x)}, not an array")
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    if a.dtype.kind != "f" and a.dtype.name != "bfloat16":
        return Missing(f"{name} is {describe(x)}, not a floating point array")
    return a
