"""The random inputs of a course network, and the Report of values compared outside the checker.

    problem(net, dims=..., m=64, seed=1, dtype=..., lambd=..., keep_prob=...) -> Problem
NumPy arrays from np.random.default_rng(seed) (checker.random_problem: He/Xavier W, small b, X ~ N(0, 1)),
params both as Layers and as the course's {"W1": ..., "b1": ...}; λ and keep_prob default to the network's.
"""

from dataclasses import dataclass

import numpy as np

from jaxbp.checking import checker, compare
from jaxbp.checking.report import Report
from jaxbp.course import assignments


class UsageError(ValueError):
    """jaxbp was asked something it cannot do (an unknown function, dims of the wrong depth): exit 2."""


@dataclass(frozen=True)
class Problem:
    """The course network's random inputs: params as Layers and as the course's dict, X, Y."""

    net: assignments.Net
    layers: tuple
    X: np.ndarray
    Y: np.ndarray
    parameters: dict
    m: int
    seed: int
    lambd: float
    keep_prob: float
    placement: str


def problem(net, *, dims=None, m=64, seed=1, dtype=np.float64, lambd=None, keep_prob=None, placement="deferred"):
    """A Problem for net: NumPy float arrays from np.random.default_rng(seed), He-scaled W, small b."""
    dims = tuple(dims or net.dims)
    if net.fixed_depth and len(dims) - 1 != net.fixed_depth:
        raise UsageError(f"the {net.key} network has {net.fixed_depth} layers (dims like {net.dims}); got dims {dims}")
    layers, X, Y = checker.random_problem(seed, dims, m=m, hidden=net.hidden, output=net.output, dtype=np.dtype(dtype))
    parameters = {f"{q}{l}": getattr(p, q) for l, p in enumerate(layers, start=1) for q in "Wb"}
    return Problem(net, layers, X, Y, parameters, m, seed, net.lambd if lambd is None else float(lambd),
                   net.keep_prob if keep_prob is None else float(keep_prob), placement)


def precision(arrays):
    """The least precise floating dtype among the arrays: what values compared outside the checker are judged in
    (by compare's bound, GROWTH u_p ||M||, with each value's own magnitudes M)."""
    names = {compare.precision_of(np.asarray(x).dtype) for x in arrays
             if hasattr(x, "dtype") and np.issubdtype(np.asarray(x).dtype, np.floating)}
    return max(names or {"float64"}, key=compare.UNIT_ROUNDOFF.get)


def report(rows, P, notes, context, arrays, *, layer_dims=None, hidden=None):
    """A Report of rows compared outside the checker (a forward's values, a cost, a one-layer function)."""
    p = precision([*arrays, *P.parameters.values()] if P else arrays)
    net = P.net if P else assignments.NETS["step"]
    return Report(tuple(rows), dtype=p, precision=p, placement=P.placement if P else "deferred",
                  hidden=hidden or net.hidden, output=net.output,
                  layer_dims=layer_dims or tuple(P.layers[0].W.shape[1:]) + tuple(p.W.shape[0] for p in P.layers),
                  m=P.m if P else arrays[0].shape[1], first_divergent_layer=None, first_divergent=None,
                  notes=tuple(dict.fromkeys(notes)), context=tuple(context))


