"""Check a hand-written backprop against jax.grad in float64 and say what is wrong, and where.

Calling convention
    check(backward_fn, params, X, Y, *, hidden, output, placement) calls, once,
        backward_fn(params, X, Y)
    with exactly the params, X, Y it was given (NumPy stays NumPy; a course dict stays a dict):
        params   a tuple of Layer(W, b)    or the course's {"W1": W[1], "b1": b[1], ...}
        returns  a tuple of Layer(W=dW, b=db)                        jaxbp's grads
                 (grads, steps), steps[l-1] = BackwardStep(dZ[l], dA[l-1])  with intermediates
                 {"dW1", "db1", ..., optional "dA0".."dA{L-1}", "dZ1".."dZL"}  the course's grads
    course_backward(L_model_forward, L_model_backward) turns the course's pair of functions
    (L_model_forward(X, parameters) -> (AL, caches), L_model_backward(AL, Y, caches) -> grads)
    into such a backward_fn.

Reference
    dW[l], db[l] = jax.grad of J = reduce(L(i)) in float64, the reduction following placement
    (deferred/absorbed: mean, sum: sum); dZ[l], dA[l] = jax.grad of J w.r.t. Z[l], A[l] in the
    placement's convention: per example for deferred (m dJ/dZ of the mean) and sum (dJ/dZ of the
    sum), dJ/dZ for absorbed (= deferred dZ / m). Either output chain (dZ[L] = AL - Y, or dAL times
    g'(Z[L])) is right: the reference does not depend on the user's start.
Where
    The first layer, from L down, whose dZ[l], dW[l], db[l] or dA[l-1] diverges. Intermediates in
    the other placement's convention (m or 1/m times the reference) while that layer's dW, db are
    right are a placement choice: a note, not a divergence.
    Optional second opinion (fd=True): central differences of J in float64,
        dJ/dθ_i ≈ (J(θ + h e_i) - J(θ - h e_i)) / 2h,   h = eps(float64)^(1/3) ≈ 6e-6,
    with the number of ReLU kinks (a hidden Z changing side of 0) each parameter's steps cross.
    The verdict and kind come from the exact reference; see jaxbp.diagnose for the kinds.
"""

from dataclasses import replace

import jax
import numpy as np

from jaxbp import activations, course, model, shapes
from jaxbp.checking import compare, diagnose, reference
from jaxbp.checking.diagnose import KINDS, Row
from jaxbp.checking.report import Report

__all__ = ["KINDS", "BackwardFnError", "Report", "Row", "check", "course_backward", "random_problem"]

# Finite differences vs jax.grad in float64 with no kink crossed: worst 3.9e-9 measured over 40 problems
# (relu/tanh/sigmoid/leaky_relu hidden, sigmoid/softmax/identity output, m = 64, mean and sum costs).
FD_TOLERANCE = 1e-6


class BackwardFnError(ValueError):
    """The user's backward_fn raised, or returned something check cannot read."""


def course_backward(L_model_forward, L_model_backward):
    """backward_fn(parameters, X, Y) from the course's L_model_forward and L_model_backward."""
    for name, fn in (("L_model_forward", L_model_forward), ("L_model_backward", L_model_backward)):
        if not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__} {fn!r}")

    def backward_fn(parameters, X, Y):
        if not isinstance(parameters, dict):
            parameters = course.to_course(parameters)
        AL, caches = L_model_forward(X, parameters)
        return L_model_backward(AL, Y, caches)

    backward_fn.__name__ = getattr(L_model_backward, "__name__", "L_model_backward")
    return backward_fn




def _seq(x):
    return isinstance(x, (list, tuple))


def _describe(x):
    if isinstance(x, dict):
        return f"a dict with keys {sorted(map(str, x))}"
    if _seq(x):
        return f"a {type(x).__name__} of {len(x)}"
    return f"{type(x).__name__} {getattr(x, 'shape', '')}".strip()


def _array(name, x):
    """x as a NumPy array, or a BackwardFnError in the learner's terms."""
    if x is None:
        raise BackwardFnError(f"backward_fn returned None for {name}: was it computed and stored?")
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.floating) or a.dtype.name == "bfloat16"):
        raise BackwardFnError(f"{name} has dtype {a.dtype}; gradients must be floating point arrays "
                              "(an integer array or // division somewhere?)")
    return a


def read_output(out, L, layer_dims=None):
    """({"dW1": ..., "db1": ...}, {("dZ", l) or ("dA", l): ...}) from what backward_fn returned."""
    expected = (f"a course grads dict {{'dW1', 'db1', ..., 'dW{L}', 'db{L}'}}, a tuple of L = {L} "
                "Layer(W=dW, b=db), or (grads, steps)")
    steps_out, steps = None, {}
    if isinstance(out, dict):
        missing = [f"d{q}{l}" for l in range(1, L + 1) for q in "Wb" if f"d{q}{l}" not in out]
        if missing:
            raise BackwardFnError(f"backward_fn's grads dict is missing {', '.join(missing)} "
                                  f"(it must hold dW1, db1, ..., dW{L}, db{L} for L = {L} layers)")
        grads = {f"d{q}{l}": _array(f"d{q}{l}", out[f"d{q}{l}"]) for l in range(1, L + 1) for q in "Wb"}
        steps = {("dZ", l): _array(f"dZ{l}", out[f"dZ{l}"]) for l in range(1, L + 1) if f"dZ{l}" in out}
        steps |= {("dA", l): _array(key, out[key]) for l, key in course.dA_keys(out, layer_dims or (None,) * (L + 1))}
        return grads, steps
    if not _seq(out):
        raise BackwardFnError(f"backward_fn must return {expected}; got {_describe(out)}")
    if len(out) == 2 and _seq(out[0]) and len(out[0]) == L and all(_seq(x) for x in out[0]) and _seq(out[1]):
        out, steps_out = out
    if len(out) != L or not all(hasattr(g, "W") or (_seq(g) and len(g) == 2) for g in out):
        raise BackwardFnError(f"backward_fn must return {expected}; got {_describe(out)}")
    grads = {}
    for l, g in enumerate(out, start=1):
        dW, db = (g.W, g.b) if hasattr(g, "W") else g
        grads[f"dW{l}"], grads[f"db{l}"] = _array(f"dW{l}", dW), _array(f"db{l}", db)
    if steps_out is not None:
        if len(steps_out) != L:
            raise BackwardFnError(f"backward_fn's steps must hold one (dZ[l], dA[l-1]) per layer (L = {L}), "
                                  f"got {len(steps_out)}")
        for l, s in enumerate(steps_out, start=1):
            dZ, dA_prev = (s.dZ, s.dA_prev) if hasattr(s, "dZ") else s
            steps[("dZ", l)], steps[("dA", l - 1)] = _array(f"dZ{l}", dZ), _array(f"dA{l - 1}", dA_prev)
    return grads, steps


def check(backward_fn, params, X, Y, *, hidden="relu", output="sigmoid", placement="deferred", fd=False,
          lambd=0.0, keep_prob=1.0, masks=None):
    """Compare backward_fn(params, X, Y) with the exact float64 gradients; diagnose what differs.

    Returns a Report: one Row per parameter (dW1, db1, ..., in course names) with Ng's relative
    error, a kind from KINDS, a factor and a message; report.ok; the first divergent layer.
    lambd adds the L2 term (λ/2m) Σ ||W[l]||² to J; masks (the learner's D1, ..., D[L-1], 0/1 of
    shape (n_l, m)) with keep_prob make the reference's hidden A[l] = g(Z[l]) * D[l] / keep_prob.
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.flag("fd", fd)
    shapes.scalar("lambd", lambd, low=0)
    shapes.scalar("keep_prob", keep_prob, low=0, high=1, low_open=True)
    if not callable(backward_fn):
        raise TypeError("backward_fn must be a function backward_fn(params, X, Y) -> grads, "
                        f"got {_describe(backward_fn)}")
    layers = course.from_course(params) if isinstance(params, dict) else params
    with jax.enable_x64(True):  # validate without truncating float64 inputs
        layer_dims = shapes.layer_dims_of(layers)
        m = shapes.data(layers, X, Y, output=output)
    L = len(layers)
    ref = reference.reference(layers, X, Y, hidden=hidden, output=output, placement=placement, lambd=lambd,
                              keep_prob=keep_prob, masks=masks)
    name = getattr(backward_fn, "__name__", "backward_fn")
    try:
        out = backward_fn(params, X, Y)
    except Exception as err:
        raise BackwardFnError(
            f"backward_fn raised {type(err).__name__}: {err}\n  check called {name}(params, X, Y) with params "
            f"{_describe(params)} (layer_dims {layer_dims}), X {tuple(X.shape)}, Y {tuple(Y.shape)}; "
            "the traceback above points into your code") from err
    user, user_steps = read_output(out, L, layer_dims)
    dA_note = course.dA_note(out, layer_dims) if isinstance(out, dict) else None
    inputs = [X, *(a for layer in layers for a in layer)]
    dtype = _least_precise([*user.values(), *inputs])
    user = {n: a.astype(np.float64) for n, a in user.items()}
    user_steps = {k: a.astype(np.float64) for k, a in user_steps.items()}
    near, precision_notes = _near(user, ref, layers, X, Y, inputs, dtype, hidden=hidden, output=output,
                                  placement=placement)
    first = {}
    for l in range(1, L + 1):
        for n in (f"dW{l}", f"db{l}"):
            first[n] = diagnose.first_pass(n, l, user[n], ref.grads[n], m=m, near=near, placement=placement)
    wrong = [n for n, (kind, *_) in first.items() if kind is None]
    explained = diagnose.explain(user, wrong, ref, near)
    rows = []
    for n, (kind, e, factor, message) in first.items():
        l = int(n[2:])
        if kind is None and n in explained:
            (kind, _, message), factor = explained[n], None
        elif kind is None and factor is not None:
            kind = "scale"  # fitted
        elif kind == "shape" and (by_layer := diagnose.explain_shape(n, user[n], ref, near)):
            kind, message = by_layer
        comparable = user[n].shape == ref.grads[n].shape and np.all(np.isfinite(user[n]))
        ratio = compare.judge(user[n], ref.grads[n], near.M[n], (near.precision,))[1] if comparable else None
        rows.append(Row(n, l, e, kind or "unexplained", factor, message, bound_ratio=ratio))
    rows = _common_factor(rows, user, ref, near)
    l_where, q_where, notes = diagnose.locate(user_steps, rows, ref, near)
    if all(r.ok for r in rows) and l_where is not None:  # every dW, db is right: an intermediate is only a note
        notes.append(f"{q_where} differs from the reference while every dW, db is right: an intermediate stored "
                     "under another convention or key, not a wrong gradient")
        l_where, q_where = None, None
    rows = [r if r.kind != "unexplained" else
            replace(r, message=f"{r.name}: rel error {r.rel_error:.2g} and no recognised mistake fits"
                    + (f"; the first divergence is at layer {l_where} ({q_where})" if l_where else "")) for r in rows]
    notes = precision_notes + notes
    if fd:
        rows, fd_notes = _with_fd(rows, user, ref, layers, X, Y, hidden=hidden, output=output, placement=placement)
        notes = notes + fd_notes
    return Report(tuple(rows), dtype=dtype, precision=near.precision, placement=placement, hidden=hidden,
                  output=output, layer_dims=layer_dims, m=m, first_divergent_layer=l_where, first_divergent=q_where,
                  notes=tuple(dict.fromkeys(notes)), fd=fd, context=(f"read: {dA_note}",) if dA_note else ())


def _common_factor(rows, user, ref, near):
    """Rows where a one-number gradient (any factor fits one number) takes the fitted factor that every
    larger wrong gradient shares, when its own u / r equals it; otherwise it stays unexplained."""
    fitted = [r.factor for r in rows if r.kind == "scale" and user[r.name].size > 1 and r.factor is not None]
    if not fitted or max(fitted) - min(fitted) > 1e-6 * abs(fitted[0]):
        return rows
    c = fitted[0]
    out = []
    for r in rows:
        u, ref_r = user[r.name], ref.grads[r.name]
        if r.kind == "unexplained" and u.size == 1 and near(r.name, u, c * ref_r, scale=c):
            r = replace(r, kind="scale", factor=c, message=f"{r.name} ≈ {c:.4g} × expected, the factor every other "
                        "wrong gradient shares (fitted)")
        out.append(r)
    return out


def _least_precise(arrays):
    """The name of the least precise floating dtype among arrays."""
    names = {compare.precision_of(a.dtype) for a in arrays}
    return max(names, key=compare.UNIT_ROUNDOFF.get)


def _near(user, ref, layers, X, Y, inputs, dtype, **kw):
    """(compare.Near for this problem at the precision the user's code computed in, notes on that precision).

    The precisions considered: float64, those of the inputs and of the returned arrays, and float32 on
    the evidence of every comparable dW, db (compare.float32_by_evidence) for code computing in float32
    and returning float64.
    """
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    M = compare.magnitudes(tuple(model.Layer(W=f64(p.W), b=f64(p.b)) for p in layers), f64(X), f64(Y), ref.Z, ref.A,
                           **kw)
    M = _with_course_terms(M, ref)
    own = compare.allowed_precisions([a.dtype for a in inputs] + [np.dtype(dtype)])
    own = tuple(p for p in own if p == "float64" or p in {compare.precision_of(a.dtype) for a in inputs}
                or p == dtype)
    names = [n for n in ref.grads if user[n].shape == ref.grads[n].shape and np.all(np.isfinite(user[n]))]
    verdicts = {n: compare.judge(user[n], ref.grads[n], M[n], compare.PRECISIONS)[0] for n in names}
    passed = [verdicts[n] for n in names if verdicts[n] in own]
    precision = max(passed, key=compare.UNIT_ROUNDOFF.get) if passed else own[-1]
    notes = []
    if "float32" not in own and compare.float32_by_evidence([(user[n], ref.grads[n], M[n]) for n in names],
                                                            [verdicts[n] for n in names]):
        precision = "float32"
    if compare.UNIT_ROUNDOFF[precision] > compare.UNIT_ROUNDOFF[dtype]:
        worst = max(compare.rel_error(user[n], ref.grads[n]) for n in names)
        notes.append(f"agrees to {worst:.0e}: your code computes in {precision} somewhere although it returns "
                     f"{dtype}; within {precision}'s rounding bound for this problem")
    unresolved = [n for n in ref.grads if np.linalg.norm(ref.grads[n]) <= compare.bound(M[n], precision)]
    if unresolved:
        notes.append(f"{', '.join(unresolved)} {'is' if len(unresolved) == 1 else 'are'} below {precision}'s rounding "
                     "bound for this problem (a stationary point): there a mistake cannot be told from rounding")
    return compare.Near(M, precision), notes


def _with_course_terms(M, ref):
    """M with C2W1's terms: c |W[l]| in dW[l] for L2 (c = λ/m), and dropout's D / keep_prob <= 1 / keep_prob
    met at each hidden layer on the way down (an upper bound: compare.magnitudes knows neither)."""
    if not ref.lambd and ref.mask is None:
        return M
    M = dict(M)
    for l in range(1, ref.L + 1):
        grow = (1 / ref.keep_prob) ** (ref.L - l) if ref.mask is not None else 1.0
        for key in (f"dW{l}", f"db{l}", ("dZ", l), ("dA", l - 1)):
            M[key] = grow * M[key] * (1 / ref.keep_prob if key == ("dA", l - 1) and l > 1 and ref.mask else 1)
        M[f"dW{l}"] = M[f"dW{l}"] + ref.l2 * np.abs(ref.W[l - 1])
    return M


def _with_fd(rows, user, ref, layers, X, Y, **kw):
    """Rows with fd_rel_error and kinks filled in, and notes where FD and jax.grad disagree."""
    fds, crossed = reference.finite_differences(layers, X, Y, **kw)
    out, notes = [], []
    for r in rows:
        u, fd_r = user[r.name], fds[r.name]
        e_user = diagnose.rel_error(u, fd_r) if u.shape == fd_r.shape else float("nan")
        out.append(replace(r, fd_rel_error=e_user, kinks=crossed[r.name]))
        e_ref = diagnose.rel_error(ref.grads[r.name], fd_r)
        if e_ref > FD_TOLERANCE:
            why = (f"their steps cross {crossed[r.name]} ReLU kink(s), where g′ jumps: a false alarm of finite "
                   "differences, not of your code" if crossed[r.name] else "no kink crossed: FD rounding")
            notes.append(f"finite differences differ from jax.grad on {r.name} (rel error {e_ref:.1e}); {why}")
    return out, notes


def random_problem(seed, layer_dims, *, m, hidden, output, dtype):
    """(params, X, Y) as NumPy arrays of dtype: a well-scaled random problem (He/Xavier W, small b, X ~ N(0, 1)).

    seed: an int or a np.random.Generator (np.random.default_rng(seed): NumPy only, nothing to compile);
    a jax.random key is accepted too, its key data seeding NumPy.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(_seed_of(seed))
    he = hidden in ("relu", "leaky_relu")
    params = []
    for l in range(1, len(layer_dims)):
        n_prev, n_l = layer_dims[l - 1], layer_dims[l]
        scale = (2 / n_prev) ** 0.5 if he else (2 / (n_prev + n_l)) ** 0.5
        params.append(model.Layer(W=(scale * rng.standard_normal((n_l, n_prev))).astype(dtype),  # (n_l, n_{l-1})
                                  b=(0.1 * rng.standard_normal((n_l, 1))).astype(dtype)))  # (n_l, 1)
    X = rng.standard_normal((layer_dims[0], m)).astype(dtype)  # (n_x, m)
    n_y = layer_dims[-1]
    if output == "sigmoid":
        Y = (rng.random((n_y, m)) < 0.5).astype(dtype)
    elif output == "softmax":
        Y = np.eye(n_y, dtype=dtype)[:, rng.integers(0, n_y, m)]  # (n_y, m) one-hot columns
    else:
        Y = (0.5 * rng.standard_normal((n_y, m))).astype(dtype)
    return tuple(params), X, Y


def _seed_of(seed):
    """An int seed, or a jax.random key's data as a list of ints."""
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    return np.asarray(jax.random.key_data(seed)).ravel().tolist()
