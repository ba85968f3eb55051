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

from dataclasses import dataclass, replace

import numpy as np

from jaxbp.checking import checker, diagnose, reference
from jaxbp.checking.checker import BackwardFnError
from jaxbp.checking.compare import rel_error
from jaxbp.checking.diagnose import Row
from jaxbp.checking.report import Report
from jaxbp.course import assignments, helpers
from jaxbp.course.assignments import NETS, LearnerError


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


def check(fn, *args, assignment=None, dims=None, m=None, seed=None, dtype=None, lambd=None, keep_prob=None,
          hidden=None, output=None, placement=None, fd=False, context=()):
    """A Report on fn, a course function known by name, or on the pair (forward_fn, backward_fn).

    check(backward_fn, params, X, Y, ...) is jaxbp's generic form and goes to the checker unchanged.
    assignment names the course function when fn's own name is not the course's; dims, m, seed
    (np.random.default_rng), dtype, lambd, keep_prob and placement override the course's defaults.
    """
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
        return _check_step(a, fn, context=context, **kw)
    P = problem(net, **kw)
    if a.role == "cost":
        return _check_cost(a, fn, P, context)
    if a.role == "forward":
        notes = []
        rows, _ = _forward_rows(a, fn, P, notes)
        values = {"X": P.X, "Y": P.Y, "parameters": P.parameters, "keep_prob": P.keep_prob}
        called = assignments.call_text(getattr(fn, "__name__", a.name), {k: values[k] for k in a.params})
        return _report(rows, P, notes, (*context, f"called: {called}"), [P.X])
    generic = _generic_form(a, backward)
    if generic:
        return replace(checker.check(backward, P.parameters if generic == "parameters" else P.layers, P.X, P.Y,
                                     hidden=net.hidden, output=net.output, placement=P.placement, fd=fd, lambd=P.lambd),
                       context=(*context, f"called: {a.name}({generic}, X, Y), jaxbp's generic form, not the course's"))
    return _check_backward(a, backward, P, fns[0] if len(fns) == 2 else None, fd, context)


def _generic_form(a, fn):
    """"parameters" or "params" when fn is written as jaxbp's generic backward_fn(params, X, Y), else None."""
    names = assignments.parameter_names(fn)
    if names and names != list(a.params) and names[1:] == ["X", "Y"] and names[0] in ("parameters", "params"):
        return names[0]
    return None


def _tolerance(arrays):
    """(dtype name, tolerance) for values compared outside the checker (the checker's own rule)."""
    return checker._tolerance([np.asarray(x) for x in arrays if hasattr(x, "dtype")])


def _report(rows, P, notes, context, arrays, *, layer_dims=None, hidden=None):
    dtype, tol = _tolerance([*arrays, *P.parameters.values()] if P else arrays)
    net = P.net if P else NETS["step"]
    return Report(tuple(rows), dtype=dtype, tolerance=tol, placement=P.placement if P else "deferred",
                  hidden=hidden or net.hidden, output=net.output,
                  layer_dims=layer_dims or tuple(P.layers[0].W.shape[1:]) + tuple(p.W.shape[0] for p in P.layers),
                  m=P.m if P else arrays[0].shape[1], first_divergent_layer=None, first_divergent=None,
                  notes=tuple(dict.fromkeys(notes)), context=tuple(context))


def _check_backward(a, fn, P, forward_fn, fd, context):
    """The backward a on P's inputs, through the checker; forward rows first when forward_fn is given."""
    net, notes, rows = P.net, [], []
    AL, cache = assignments.jaxbp_forward(net, P.X, P.parameters, keep_prob=P.keep_prob, seed=P.seed)
    source = "jaxbp's own forward (the course's)"
    if forward_fn is not None:
        fname = getattr(forward_fn, "__name__", "forward")
        fa = assignments.find(fname, forward_fn, role="forward", cache=(net.cache,)) or next(
            x for x in assignments.ASSIGNMENTS if x.role == "forward" and NETS[x.net].cache == net.cache)
        rows, learner = _forward_rows(fa, forward_fn, P, notes)
        if learner is not None and all(r.ok for r in rows):
            (AL, cache), source = learner, f"your {fname}"
        else:
            notes.append(f"your {fname} is not right (rows above), so {a.name} is checked on jaxbp's own cache")
    masks = (cache[1], cache[6]) if net.cache == "tuple14" else None
    values = {"X": P.X, "Y": P.Y, "parameters": P.parameters, "cache": cache, "caches": cache, "AL": AL,
              "lambd": P.lambd, "keep_prob": P.keep_prob}
    called = [assignments.call_text(getattr(fn, "__name__", a.name), {k: values[k] for k in a.params})]

    def backward_fn(parameters, X, Y):
        return assignments.normalise_grads(assignments.call(fn, a, values, notes=notes, formats=[net.cache_format]))

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


def _forward_rows(fa, fn, P, notes):
    """(rows comparing the learner's forward with the float64 forward, (AL, cache) or None if unreadable)."""
    net = P.net
    values = {"X": P.X, "Y": P.Y, "parameters": P.parameters, "keep_prob": P.keep_prob}
    out = assignments.call(fn, fa, values, notes=notes, formats=[net.cache_format])
    try:
        AL, cache, cost = assignments.read_forward(fa, out)
        entries = assignments.cache_entries(net, cache)
    except ValueError as err:
        return [Row("cache", 0, float("nan"), "shape", None, str(err))], None
    rows, masks = [], None
    if net.cache == "tuple14":
        D = dict(entries)
        rows += [_mask_row(n, D[n], (p.W.shape[0], P.m), P.keep_prob)
                 for n, p in zip(("D1", "D2"), P.layers[:2], strict=True)]
        if all(r.kind in ("ok", "dropout-mask-wrong") and "other than 0 and 1" not in r.message for r in rows):
            masks = (D["D1"], D["D2"])  # a mask keeping the wrong share is judged on its row; A follows from it
        else:
            masks = helpers.dropout_masks([(p.W.shape[0], P.m) for p in P.layers[:2]], P.keep_prob, P.seed)
    ref = reference.reference(P.layers, P.X, P.Y, hidden=net.hidden, output=net.output, placement=P.placement,
                              keep_prob=P.keep_prob, masks=masks)
    L = len(P.layers)
    items = [(n, x) for n, x in entries if n[0] in "ZA"]
    out_name = "AL" if net.cache == "caches" else f"A{L}"
    if not any(n == out_name and x is AL for n, x in items):
        items.append((out_name if net.cache == "caches" else f"{out_name} (returned)", AL))
    if cost is not None:
        items.append(("cost", cost))
    dtype, tol = _tolerance([P.X, *P.parameters.values(), *(x for _, x in items)])
    first_wrong = None
    for name, u in items:
        row = _forward_row(name, u, ref, P, tol, first_wrong)
        rows.append(row)
        first_wrong = first_wrong or (None if row.ok else name)
    return rows, (AL, cache)


def _forward_row(name, u, ref, P, tol, first_wrong):
    """One forward value against the float64 forward: ok, shape, nonfinite, a wrong activation, dropout..."""
    L, key = ref.L, name.split(" ")[0]
    l = L if key in ("AL", "cost") else int(key[1:])
    r = np.asarray(ref.cost) if key == "cost" else (ref.Z[l - 1] if key[0] == "Z" else ref.A[l])
    if u is None:
        return Row(name, l, float("nan"), "shape", None, f"{name} is None: was it computed and stored?")
    u = np.asarray(u, dtype=np.float64) if np.asarray(u).dtype != object else np.asarray(u)
    if key == "cost" and u.size == 1:
        u = u.reshape(())
    if u.shape != r.shape:
        want = "a number" if key == "cost" else f"(n[{l}], m) = {r.shape}"
        return Row(name, l, float("nan"), "shape", None, f"{name} must be {want}, got {u.shape}")
    if not np.all(np.isfinite(u)):
        return Row(name, l, float("nan"), "nonfinite", None, f"{name} holds NaN/Inf")
    e = rel_error(u, r)
    if e <= tol:
        return Row(name, l, e, "ok", None, "")
    if first_wrong:
        return Row(name, l, e, "unexplained", None, f"{name} is computed from your {first_wrong}, which is wrong")
    for kind, value, text in _forward_candidates(key, l, ref, P):
        if rel_error(u, value) <= tol:
            return Row(name, l, e, kind, None, text)
    if key == "cost" and abs(float(u) / float(r) - P.m) <= tol * P.m:
        return Row(name, l, e, "missing-1/m", float(P.m), "cost = m × expected: the 1/m of J = (1/m) Σ L is missing")
    kind, _, factor, message = diagnose.first_pass(name, l, u, r, m=P.m, tol=tol, placement=P.placement)
    if kind is None and factor is not None:
        return Row(name, l, e, "scale", factor, message)
    return Row(name, l, e, kind or "unexplained", factor, message or f"{name}: rel error {e:.2g}, no recognised "
               "mistake fits")


def _forward_candidates(key, l, ref, P):
    """(kind, value, message) of the forward's known mistakes at value `key` of layer l."""
    if key[0] != "A" and key != "AL":
        return
    Z, hidden, out = ref.Z[l - 1], P.net.hidden, P.net.output
    g = reference.NP_G
    if l < ref.L:
        mult = 1 if ref.mask is None else ref.mask[l - 1]
        for alt in (a for a in g if a != hidden):
            yield "wrong-activation", g[alt](Z) * mult, f"A{l} = {alt}(Z{l}) fits: layer {l} is {hidden}"
        if ref.mask is not None:
            kp, D = ref.keep_prob, ref.mask[l - 1] * ref.keep_prob
            yield ("dropout-not-scaled", g[hidden](Z) * D, f"A{l} is masked with D{l} but not divided by "
                   f"keep_prob = {kp:g} (inverted dropout: A{l} = A{l} * D{l} / keep_prob)")
            yield "dropout-mask-missing", g[hidden](Z) / kp, f"A{l} is divided by keep_prob but not masked with D{l}"
            yield "dropout-mask-missing", g[hidden](Z), f"A{l} is neither masked with D{l} nor divided by keep_prob"
    else:
        for alt in (a for a in g if a != out):
            yield "wrong-activation", g[alt](Z), f"{key} = {alt}(Z{l}) fits: the output layer is {out}"


def _mask_row(name, D, shape, keep_prob):
    """A dropout mask: 0/1, of A's shape, keeping about keep_prob of the units."""
    D = np.asarray(D)
    if D.shape != shape:
        return Row(name, 0, float("nan"), "shape", None, f"{name} must be (n[l], m) = {shape}, got {D.shape}")
    if not np.isin(D, (0, 1)).all():
        return Row(name, 0, float("nan"), "dropout-mask-wrong", None, f"{name} holds values other than 0 and 1: "
                   f"{name} = (np.random.rand(...) < keep_prob).astype(int)")
    kept, sd = float(D.mean()), (keep_prob * (1 - keep_prob) / D.size) ** 0.5
    if abs(kept - keep_prob) > 6 * sd + 1e-12:  # 6 standard deviations of a binomial share
        return Row(name, 0, float("nan"), "dropout-mask-wrong", None, f"{name} keeps {kept:.0%} of the units, "
                   f"keep_prob = {keep_prob:g}: keep a unit where rand < keep_prob")
    return Row(name, 0, 0.0, "ok", None, "")


def _check_cost(a, fn, P, context):
    """compute_cost_with_regularization against J = cross-entropy + (λ/2m) Σ_l ||W[l]||² in float64."""
    notes = []
    A3, _ = helpers.three_layer_forward(P.X, P.parameters)
    values = {"A3": A3, "Y": P.Y, "parameters": P.parameters, "lambd": P.lambd}
    out = assignments.call(fn, a, values, notes=notes)
    A, Y, m, lam = np.asarray(A3, np.float64), np.asarray(P.Y, np.float64), P.m, P.lambd
    ce = float(-np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m)
    squares = [float(np.sum(np.asarray(p.W, np.float64) ** 2)) for p in P.layers]
    l2 = sum(squares)
    expected = ce + lam / (2 * m) * l2
    _, tol = _tolerance([A3, *P.parameters.values()])
    u = np.asarray(out)
    if u.size != 1 or not np.issubdtype(u.dtype, np.number):
        row = Row("cost", 0, float("nan"), "shape", None, f"the cost must be a number; got {type(out).__name__} "
                  f"{getattr(out, 'shape', '')}")
    else:
        u = float(u.ravel()[0])
        e = rel_error(u, expected)
        fits = [("l2-missing", ce, "the L2 term (λ/2m) Σ ‖W[l]‖² is missing"),
                ("l2-without-1/m", ce + lam / 2 * l2, "the L2 term is (λ/2) Σ ‖W‖² without 1/m: it is (λ/2m) Σ ‖W‖²"),
                ("l2-doubled", ce + lam / m * l2, "the L2 term is doubled: (λ/m) Σ ‖W‖²; it is (λ/2m) Σ ‖W‖²"),
                ("missing-1/m", m * ce + lam / (2 * m) * l2, "the cross-entropy part lacks its 1/m")]
        fits += [("l2-missing", expected - lam / (2 * m) * s, f"‖W{l}‖² is missing from the L2 sum")
                 for l, s in enumerate(squares, start=1)]
        kind, message = ("ok", "") if e <= tol else next(
            ((k, f"{t} (λ = {lam:g})") for k, v, t in fits if rel_error(u, v) <= tol),
            ("unexplained", f"cost: rel error {e:.2g}, no recognised mistake fits"))
        row = Row("cost", 0, e, kind, None, message)
    called = assignments.call_text(getattr(fn, "__name__", a.name), values)
    return _report([row], P, notes, (*context, f"called: {called}"), [A3])


def _check_step(a, fn, *, dims, m, seed, dtype, context, **_):
    """linear_backward, linear_activation_backward, relu_backward, sigmoid_backward on one random layer."""
    n_prev, n_l = tuple(dims or NETS["step"].dims)[-2:]
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((n_prev, m))
    A_prev[:, 0] = 0  # with b[0] = 0, Z[0, 0] == 0 exactly: g' at relu's kink is part of the check
    W = rng.standard_normal((n_l, n_prev)) * (2 / n_prev) ** 0.5
    b = 0.1 * rng.standard_normal((n_l, 1))
    b[0, 0] = 0
    dA = rng.standard_normal((n_l, m))
    A_prev, W, b, dA = (x.astype(dtype) for x in (A_prev, W, b, dA))
    Z = W @ A_prev + b
    cases = {"linear_backward": [("identity", {"dZ": dA, "cache": (A_prev, W, b)})],
             "linear_activation_backward": [(act, {"dA": dA, "cache": ((A_prev, W, b), Z), "activation": act})
                                            for act in ("sigmoid", "relu")],
             "relu_backward": [("relu", {"dA": dA, "cache": Z})],
             "sigmoid_backward": [("sigmoid", {"dA": dA, "cache": Z})]}[a.name]
    rows, notes, called = [], [], []
    names = ("dZ",) if a.returns == "dZ" else ("dA_prev", "dW", "db")
    for act, values in cases:
        called.append(assignments.call_text(getattr(fn, "__name__", a.name), values))
        out = assignments.call(fn, a, values, notes=notes)
        ref = reference.step_reference(dA, A_prev, W, b, activation=act)
        outs = (out,) if len(names) == 1 else out
        suffix = f" ({act})" if a.name == "linear_activation_backward" else ""
        if not isinstance(outs, (tuple, list)) or len(outs) != len(names):
            rows.append(Row("output" + suffix, 1, float("nan"), "shape", None,
                            f"{a.name} must return {a.returns}; got {type(out).__name__}"))
            continue
        _, tol = _tolerance([dA, A_prev, W, b, *(x for x in outs if hasattr(x, "dtype"))])
        for n, u in zip(names, outs, strict=True):
            rows.append(_step_row(n + suffix, n, u, ref, act, (dA, A_prev, W, Z), tol, m))
    dtype_rows = [dA, A_prev, W]
    return _report(rows, None, notes, (*context, *(f"called: {c}" for c in called)), dtype_rows,
                   layer_dims=(n_prev, n_l), hidden="relu" if a.name != "sigmoid_backward" else "sigmoid")


def _step_row(name, key, u, ref, act, inputs, tol, m):
    """One output of a one-layer backward against jax.grad's, with the wrong-g' candidates."""
    r = ref[key]
    if u is None or not hasattr(u, "shape"):
        return Row(name, 1, float("nan"), "shape", None, f"{name} must be an array of shape {r.shape}, got "
                   f"{type(u).__name__}")
    u = np.asarray(u, dtype=np.float64)
    if u.shape != r.shape and key in ("dA_prev", "dZ"):
        return Row(name, 1, float("nan"), "shape", None, f"{name} must be {r.shape} (the shape of "
                   f"{'A_prev' if key == 'dA_prev' else 'Z'}), got {u.shape}")
    kind, e, factor, message = diagnose.first_pass(name, 1, u, r, m=m, tol=tol, placement="deferred")
    if kind is not None:
        return Row(name, 1, e, kind, factor, message)
    dA, A_prev, W, Z = (np.asarray(x, np.float64) for x in inputs)
    g = reference.NP_G_PRIME
    alts = [(f"{alt}′ fits where {act}′ belongs", g[alt](Z)) for alt in g if alt not in (act, "leaky_relu")]
    if act in ("sigmoid", "tanh"):
        alts.append((f"{act}′ is evaluated at A = {act}(Z), not at Z", g[act](reference.NP_G[act](Z))))
    if act == "relu":
        alts.append(("relu′(0) taken as 1 (dZ[Z < 0] = 0); the course zeroes dZ where Z <= 0",
                     (Z >= 0).astype(np.float64)))
    for text, g_prime in alts:
        dZ = dA * g_prime
        value = {"dZ": dZ, "dW": dZ @ A_prev.T / m, "db": np.sum(dZ, axis=1, keepdims=True) / m,
                 "dA_prev": W.T @ dZ}[key]
        if value.shape == u.shape and rel_error(u, value) <= tol:
            return Row(name, 1, e, "wrong-activation-derivative", None, f"{name}: {text}")
    if factor is not None:
        return Row(name, 1, e, "scale", factor, message)
    return Row(name, 1, e, "unexplained", None, f"{name}: rel error {e:.2g}, no recognised mistake fits")
