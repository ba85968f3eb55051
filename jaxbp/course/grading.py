"""jaxbp.check for the course's own functions, recognised by name, with the course's inputs.

    check(backward_propagation_n)                          the assignment from the function's name
    check(forward_propagation_n, backward_propagation_n)   the learner's forward makes the cache
    check(fn, assignment="backward_propagation_n", dims=(4, 5, 3, 1), m=64, seed=1, lambd=0.7, keep_prob=0.86)
    check(backward_fn, params, X, Y, hidden=..., ...)      jaxbp's generic form (jaxbp.checking.checker.check)
A backward is given what the course gives it (its cache built by the course's own forward, or by the
learner's forward when given and right) and compared with jax.grad in float64 by the checker, L2
term and dropout masks (taken from the cache) included. A forward's cache entries, a cost and the
one-layer functions (linear_backward, linear_activation_backward, relu_backward, sigmoid_backward)
are compared value by value, in float64. Every Report says what was called, with what, and how its
output was read. The learner's code raising, or having a signature jaxbp cannot fill, raises
LearnerError with the learner's frames, the call and a hint.
"""

from dataclasses import replace

import numpy as np

from jaxbp import shapes
from jaxbp.checking import checker
from jaxbp.checking.checker import BackwardFnError
from jaxbp.course import assignments, steps, values
from jaxbp.course.assignments import NETS, LearnerError
from jaxbp.course.problems import UsageError, problem, report

__all__ = ["LearnerError", "UsageError", "check", "problem"]


def check(fn, *args, assignment=None, dims=None, m=None, seed=None, dtype=None, lambd=None, keep_prob=None,
          hidden=None, output=None, placement=None, fd=False, context=()):
    """A Report on fn, a course function known by name, or on the pair (forward_fn, backward_fn).

    check(backward_fn, params, X, Y, ...) is jaxbp's generic form and goes to the checker unchanged.
    assignment names the course function when fn's own name is not the course's; dims, m, seed
    (np.random.default_rng), dtype, lambd, keep_prob and placement override the course's defaults.
    """
    _check_overrides(dims=dims, m=m, seed=seed, dtype=dtype, lambd=lambd, keep_prob=keep_prob, fd=fd, context=context)
    if len(args) == 3 and not callable(args[0]):
        return checker.check(fn, *args, hidden=hidden or "relu", output=output or "sigmoid",
                             placement=placement or "deferred", fd=fd, lambd=lambd or 0.0,
                             keep_prob=1.0 if keep_prob is None else keep_prob)
    if len(args) > 1 or (args and not callable(args[0])) or not callable(fn):
        raise TypeError("use check(course_function), check(forward_fn, backward_fn) or "
                        "check(backward_fn, params, X, Y)")
    fns = (fn, *args)
    backward = fns[-1]
    name = assignment or getattr(backward, "__name__", "")
    a = assignments.recognise(fns, assignment)
    if a is None:
        raise UsageError(f"{name!r} is not one of the course's functions jaxbp knows ({', '.join(assignments.NAMES)}); "
                         "name it with assignment=... (--assignment), or call check(backward_fn, params, X, Y)")
    if len(fns) == 2 and a.role != "backward":
        raise UsageError(f"a pair is (forward, backward); {a.name} is a {a.role}")
    net = NETS[a.net]
    kw = dict(dims=dims, m=m or 64, seed=1 if seed is None else seed, dtype=dtype or np.float64, lambd=lambd,
              keep_prob=keep_prob, placement=placement or "deferred")
    context = (f"assignment: {a.signature}  ({net.notebook})", *context)
    if a.role == "step":
        return steps.check_step(a, fn, context=context, **kw)
    P = problem(net, **kw)
    if a.role == "cost":
        return values.check_cost(a, fn, P, context)
    if a.role == "forward":
        notes = []
        rows, _ = values.forward_rows(a, fn, P, notes)
        inputs = {"X": P.X, "Y": P.Y, "parameters": P.parameters, "keep_prob": P.keep_prob}
        called = assignments.call_text(getattr(fn, "__name__", a.name), {k: inputs[k] for k in a.params})
        return report(rows, P, notes, (*context, f"called: {called}"), [P.X])
    generic = _generic_form(a, backward)
    if generic:
        return replace(checker.check(backward, P.parameters if generic == "parameters" else P.layers, P.X, P.Y,
                                     hidden=net.hidden, output=net.output, placement=P.placement, fd=fd, lambd=P.lambd),
                       context=(*context, f"called: {a.name}({generic}, X, Y), jaxbp's generic form, not the course's"))
    return _check_backward(a, backward, P, fns[0] if len(fns) == 2 else None, fd, context)


def _check_overrides(*, dims, m, seed, dtype, lambd, keep_prob, fd, context):
    """Each override's domain, before anything runs (a ValueError or TypeError naming it otherwise)."""
    if dims is not None:
        if isinstance(dims, (str, bytes)) or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                                     and n >= 1 for n in dims) or len(dims) < 2:
            raise ValueError(f"dims must be (n_x, n_1, ..., n_L) with at least 2 positive ints, got {dims!r}")
    shapes.count("m", m)
    if seed is not None:
        shapes.scalar("seed", seed, low=0, integral=True)
    if dtype is not None:
        try:
            ok = np.dtype(dtype) in (np.float64, np.float32)
        except TypeError:
            ok = False
        if not ok:
            raise TypeError(f"dtype must be float64 or float32, got {dtype!r}")
    if lambd is not None:
        shapes.scalar("lambd", lambd, low=0)
    if keep_prob is not None:
        shapes.scalar("keep_prob", keep_prob, low=0, high=1, low_open=True)
    shapes.flag("fd", fd)
    if isinstance(context, (str, bytes)) or not all(isinstance(line, str) for line in context):
        raise TypeError(f"context must be a sequence of strings (lines), got {context!r}")


def _generic_form(a, fn):
    """"parameters" or "params" when fn is written as jaxbp's generic backward_fn(params, X, Y), else None."""
    names = assignments.parameter_names(fn)
    if names and names != list(a.params) and names[1:] == ["X", "Y"] and names[0] in ("parameters", "params"):
        return names[0]
    return None


def _check_backward(a, fn, P, forward_fn, fd, context):
    """The backward a on P's inputs, through the checker; forward rows first when forward_fn is given."""
    net, notes, rows = P.net, [], []
    AL, cache = assignments.jaxbp_forward(net, P.X, P.parameters, keep_prob=P.keep_prob, seed=P.seed)
    source = "jaxbp's own forward (the course's)"
    if forward_fn is not None:
        fname = getattr(forward_fn, "__name__", "forward")
        fa = assignments.find(fname, forward_fn, role="forward", cache=(net.cache,)) or next(
            x for x in assignments.ASSIGNMENTS if x.role == "forward" and NETS[x.net].cache == net.cache)
        rows, learner = values.forward_rows(fa, forward_fn, P, notes)
        if learner is not None and all(r.ok for r in rows):
            (AL, cache), source = learner, f"your {fname}"
        else:
            notes.append(f"your {fname} is not right (rows above), so {a.name} is checked on jaxbp's own cache")
    masks = (cache[1], cache[6]) if net.cache == "tuple14" else None
    inputs = {"X": P.X, "Y": P.Y, "parameters": P.parameters, "cache": cache, "caches": cache, "AL": AL,
              "lambd": P.lambd, "keep_prob": P.keep_prob}
    called = [assignments.call_text(getattr(fn, "__name__", a.name), {k: inputs[k] for k in a.params})]

    def backward_fn(parameters, X, Y):
        return assignments.normalise_grads(assignments.call(fn, a, inputs, notes=notes, formats=[net.cache_format]))

    try:
        report = checker.check(backward_fn, P.parameters, P.X, P.Y, hidden=net.hidden, output=net.output,
                               placement=P.placement, fd=fd, lambd=P.lambd, keep_prob=P.keep_prob, masks=masks)
    except BackwardFnError as err:
        if isinstance(err.__cause__, LearnerError):
            raise err.__cause__ from None
        raise BackwardFnError(str(err).replace("backward_fn", getattr(fn, "__name__", a.name))
                              + f"\n  the course's function is {a.signature}") from None
    extra = [f"called: {called[0]}", f"cache: from {source}" + (f"; lambd = {P.lambd:g}" if P.lambd else "")
             + (f"; keep_prob = {P.keep_prob:g}, masks D1, D2 from that cache" if masks is not None else "")]
    return replace(report, rows=(*rows, *report.rows), notes=tuple(dict.fromkeys([*notes, *report.notes])),
                   context=(*context, *extra, *report.context))
