"""The course's functions that jaxbp knows by name: signatures, networks, cache formats, and calling them.

    Network (notebook)                       dims            g          cache the backward gets
    planar (C1W3 planar data)                (2, 4, 1)       tanh       {"Z1", "A1", "Z2", "A2"}
    three_layer (C2W1 gradient checking)     (4, 5, 3, 1)    relu       (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    regularization (C2W1, λ = 0.7)           (2, 20, 3, 1)   relu       the same 12-tuple
    dropout (C2W1, keep_prob = 0.86)         (2, 20, 3, 1)   relu       (Z1, D1, A1, W1, b1, Z2, D2, A2, ..., b3)
    deep (C1W4 step by step)                 (4, 5, 3, 1)    relu       caches[l-1] = ((A_prev, W, b), Z)
    step (C1W4's one-layer functions)        (n_prev, n_l) = (5, 3)
The output layer is sigmoid with cross-entropy everywhere; 1/m sits in dW, db (placement "deferred").
A learner's function is called by its own parameter names (the course's names) or, when they
differ but their number fits, positionally in the course's order (and the report says so).
"""

import inspect
from dataclasses import dataclass

import numpy as np

from jaxbp.course import frames, helpers

TUPLE12 = ("Z1", "A1", "W1", "b1", "Z2", "A2", "W2", "b2", "Z3", "A3", "W3", "b3")
TUPLE14 = ("Z1", "D1", "A1", "W1", "b1", "Z2", "D2", "A2", "W2", "b2", "Z3", "A3", "W3", "b3")


@dataclass(frozen=True)
class Net:
    """One of the course's networks: its notebook, default layer_dims, activations and cache format."""

    key: str
    notebook: str
    dims: tuple
    hidden: str = "relu"
    output: str = "sigmoid"
    cache: str = "tuple12"  # "dict" | "tuple12" | "tuple14" | "caches" | "step"
    lambd: float = 0.0
    keep_prob: float = 1.0

    @property
    def fixed_depth(self):
        return None if self.cache in ("caches", "step") else len(self.dims) - 1

    @property
    def cache_format(self):
        return {"dict": 'cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}',
                "tuple12": f"cache = ({', '.join(TUPLE12)})", "tuple14": f"cache = ({', '.join(TUPLE14)})",
                "caches": "caches = [((A_prev, W, b), Z) for each layer l = 1 ... L], caches[l-1] for layer l",
                "step": "linear cache (A_prev, W, b), activation cache Z, and ((A_prev, W, b), Z) together"}[self.cache]


C1W4 = "C1W4 Building your Deep Neural Network: Step by Step"
NETS = {n.key: n for n in (
    Net("planar", "C1W3 Planar data classification with one hidden layer", (2, 4, 1), hidden="tanh", cache="dict"),
    Net("three_layer", "C2W1 Gradient Checking", (4, 5, 3, 1)),
    Net("regularization", "C2W1 Regularization (L2)", (2, 20, 3, 1), lambd=0.7),
    Net("dropout", "C2W1 Regularization (dropout)", (2, 20, 3, 1), cache="tuple14", keep_prob=0.86),
    Net("deep", C1W4, (4, 5, 3, 1), cache="caches"),
    Net("step", C1W4, (5, 3), cache="step"),
)}


@dataclass(frozen=True)
class Assignment:
    """One course function: name, the network it belongs to, its parameters in order, what it returns."""

    name: str
    net: str
    params: tuple
    returns: str
    role: str  # "forward" | "backward" | "cost" | "step"

    @property
    def signature(self):
        return f"{self.name}({', '.join(self.params)}) -> {self.returns}"


ASSIGNMENTS = (
    Assignment("forward_propagation", "planar", ("X", "parameters"), "(A2, cache)", "forward"),
    Assignment("backward_propagation", "planar", ("parameters", "cache", "X", "Y"), "grads", "backward"),
    Assignment("forward_propagation_n", "three_layer", ("X", "Y", "parameters"), "(cost, cache)", "forward"),
    Assignment("backward_propagation_n", "three_layer", ("X", "Y", "cache"), "gradients", "backward"),
    Assignment("compute_cost_with_regularization", "regularization", ("A3", "Y", "parameters", "lambd"), "cost",
               "cost"),
    Assignment("backward_propagation_with_regularization", "regularization", ("X", "Y", "cache", "lambd"),
               "gradients", "backward"),
    Assignment("forward_propagation_with_dropout", "dropout", ("X", "parameters", "keep_prob"), "(A3, cache)",
               "forward"),
    Assignment("backward_propagation_with_dropout", "dropout", ("X", "Y", "cache", "keep_prob"), "gradients",
               "backward"),
    Assignment("L_model_forward", "deep", ("X", "parameters"), "(AL, caches)", "forward"),
    Assignment("L_model_backward", "deep", ("AL", "Y", "caches"), "grads", "backward"),
    Assignment("linear_backward", "step", ("dZ", "cache"), "(dA_prev, dW, db)", "step"),
    Assignment("linear_activation_backward", "step", ("dA", "cache", "activation"), "(dA_prev, dW, db)", "step"),
    Assignment("relu_backward", "step", ("dA", "cache"), "dZ", "step"),
    Assignment("sigmoid_backward", "step", ("dA", "cache"), "dZ", "step"),
    # reg_utils' own pair, given in C2W1: the 3-layer network's forward and backward
    Assignment("forward_propagation", "three_layer", ("X", "parameters"), "(A3, cache)", "forward"),
    Assignment("backward_propagation", "three_layer", ("X", "Y", "cache"), "gradients", "backward"),
)
NAMES = tuple(dict.fromkeys(a.name for a in ASSIGNMENTS))


def parameter_names(fn):
    """The names of fn's ordinary parameters, or None when Python cannot tell."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def find(name, fn=None, *, role=None, cache=None):
    """The Assignment called `name` (the one whose parameters fn's names match, if several), or None."""
    options = [a for a in ASSIGNMENTS if a.name == name and (role is None or a.role == role)
               and (cache is None or NETS[a.net].cache in cache)]
    names = parameter_names(fn) if fn is not None else None
    for test in (lambda a: list(a.params) == names, lambda a: set(a.params) == set(names or ()),
                 lambda a: len(a.params) == len(names or ())):
        if names is not None and (hits := [a for a in options if test(a)]):
            return hits[0]
    return options[0] if options else None


def recognise(fns, name=None):
    """The Assignment that fns (a function, or a (forward, backward) pair) are, or None.

    By the (last) function's name, or name; a pair whose backward has another name is recognised from
    its forward's name and the backward's parameter names (L_model_forward with my_backward(AL, Y, caches)).
    """
    backward = fns[-1]
    a = find(name or getattr(backward, "__name__", ""), backward)
    if a is not None or name or len(fns) != 2:
        return a
    fa = find(getattr(fns[0], "__name__", ""), fns[0], role="forward")
    names = parameter_names(backward)
    if fa is None or names is None:
        return None
    options = [x for x in ASSIGNMENTS if x.role == "backward" and NETS[x.net].cache == NETS[fa.net].cache]
    return next((x for x in options if list(x.params) == names), None)


class LearnerError(ValueError):
    """The learner's code raised, or cannot be called with the course's arguments (the CLI's exit 3)."""

    def __init__(self, text, original=None):
        super().__init__(text)
        self.original = original


def call_text(name, kwargs):
    """The call as the learner would read it: name(X=ndarray (4, 64) float64, cache=tuple of 12, ...)."""
    return f"{name}({', '.join(f'{k}={frames.describe(v)}' for k, v in kwargs.items())})"


def call(fn, a, values, *, notes, formats=()):
    """fn(...) with the course's arguments for assignment a, by fn's own parameter names; its result.

    Raises LearnerError when fn cannot be called or raises (its frames, the call, a hint); notes
    receives a sentence when the call was positional, or when fn changed an argument in place.
    """
    values = {k: values[k] for k in a.params}
    name = getattr(fn, "__name__", a.name)
    names = parameter_names(fn)
    sig = inspect.signature(fn) if names is not None else None
    required = [p.name for p in sig.parameters.values() if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)] if sig else []
    if names is None or set(a.params) <= set(names) and set(required) <= set(a.params):
        args, kwargs = ([], values) if names is not None else (list(values.values()), {})
    elif len(required) <= len(a.params) <= len(names) or any(p.kind == p.VAR_POSITIONAL
                                                              for p in sig.parameters.values()):
        args, kwargs = list(values.values()), {}
        notes.append(f"{name}'s parameters ({', '.join(names)}) are not the course's ({', '.join(a.params)}): "
                     "called positionally, in the course's order")
    else:
        raise LearnerError(f"jaxbp cannot call {name}{sig}: the course's function is {a.signature}.\n"
                           f"jaxbp would call: {call_text(name, values)}\nhint: give {name} the course's "
                           f"parameters ({', '.join(a.params)}), or name the assignment (--assignment NAME)")
    before = [(path, x.copy()) for path, x in _arrays(values)]
    try:
        out = fn(*args, **kwargs)
    except Exception as err:
        text = frames.explain(err, call=call_text(name, values), module=getattr(fn, "__globals__", None),
                              formats=formats)
        raise LearnerError(text, original=err) from None
    changed = [path for (path, x), (_, y) in zip(before, _arrays(values), strict=True)
               if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True)]
    if changed:
        notes.append(f"{name} changed {', '.join(changed)} in place (e.g. dZ = dA; dZ[Z <= 0] = 0 writes into dA): "
                     "copy first, dZ = np.array(dA, copy=True)")
    return out


def _arrays(x, path=""):
    """(path, array) for every NumPy array inside x (dicts, lists, tuples), in a fixed order."""
    if isinstance(x, np.ndarray):
        yield path, x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _arrays(v, f"{path}[{k!r}]" if path else str(k))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _arrays(v, f"{path}[{i}]")


def jaxbp_forward(net, X, parameters, *, keep_prob, seed):
    """(AL, cache) of the course's own forward for net, in the course's format (helpers.py)."""
    if net.cache == "dict":
        return helpers.planar_forward(X, parameters)
    if net.cache == "tuple12":
        return helpers.three_layer_forward(X, parameters)
    if net.cache == "tuple14":
        return helpers.dropout_forward(X, parameters, keep_prob, seed)
    return helpers.L_model_forward(X, parameters)


def read_forward(a, out):
    """(AL, cache, cost) from what a forward assignment returned; ValueError in course terms."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError(f"{a.name} must return {a.returns}; got {frames.describe(out)}")
    first, cache = out
    if a.returns.startswith("(cost"):
        if not isinstance(cache, (tuple, list)) or len(cache) != 12:
            raise ValueError(f"{a.name}'s cache must be ({', '.join(TUPLE12)}); got {frames.describe(cache)}")
        return cache[9], cache, first
    return first, cache, None


def cache_entries(net, cache):
    """[(name, array)] of the forward values in a learner's cache: Z[l], A[l], D[l] in the course's names."""
    if net.cache == "dict":
        if not isinstance(cache, dict):
            raise ValueError(f"the cache must be a dict {{'Z1', 'A1', 'Z2', 'A2'}}; got {frames.describe(cache)}")
        return [(k, cache.get(k)) for k in ("Z1", "A1", "Z2", "A2")]
    if net.cache in ("tuple12", "tuple14"):
        names = TUPLE12 if net.cache == "tuple12" else TUPLE14
        if not isinstance(cache, (tuple, list)) or len(cache) != len(names):
            raise ValueError(f"the cache must be ({', '.join(names)}); got {frames.describe(cache)}")
        return [(n, x) for n, x in zip(names, cache, strict=True) if n[0] in "ZAD"]
    if not isinstance(cache, (list, tuple)) or not all(isinstance(c, (list, tuple)) and len(c) == 2 for c in cache):
        raise ValueError(f"caches must be a list of ((A_prev, W, b), Z), one per layer; got {frames.describe(cache)}")
    out = []
    for l, (linear, Z) in enumerate(cache, start=1):
        if l > 1 and isinstance(linear, (list, tuple)) and len(linear) == 3:
            out.append((f"A{l - 1}", linear[0]))
        out.append((f"Z{l}", Z))
    return out


def normalise_grads(out):
    """A grads dict with reg_utils' lowercase "dz3", "da2" read as "dZ3", "dA2"; anything else unchanged."""
    if not isinstance(out, dict):
        return out
    return {(k[:1] + k[1].upper() + k[2:] if isinstance(k, str) and k[:2] in ("dz", "da") and k[2:].isdigit() else k): v
            for k, v in out.items()}
