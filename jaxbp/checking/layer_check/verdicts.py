"""From the learner's outputs to rows: the precision judged in, each output's kind in each case, one row per output.

Contract
    The precision follows jaxbp.checking.checker's rule: the coarsest precision some output needed among
    float64, the inputs' and the returned arrays' precisions (never finer than the inputs'), and float32
    by evidence (compare.float32_by_evidence over every comparable output) for code that computes in
    float32 but returns float64. Per case,
    each output is judged in kinds.py's order; a row takes the kind most of its failing cases share
    (the first failing case's on ties) and names the cases it holds in.
"""

from collections import Counter

import numpy as np

from jaxbp.checking import compare
from jaxbp.checking.layer_check.kinds import expected_shape, factors, permutations, snap
from jaxbp.checking.layer_check.learner import Missing, signature
from jaxbp.checking.layer_check.problems import family
from jaxbp.checking.layer_check.report import CaseResult, LayerRow


def comparable(u, r):
    return not isinstance(u, Missing) and u.shape == r.shape and bool(np.all(np.isfinite(u)))


def choose_precision(pairs, input_dtype, output_dtypes):
    """(precision, notes) from [(name, u, r, M)], the inputs' dtype and the returned arrays' dtypes."""
    names = {compare.precision_of(d) for d in [input_dtype, *output_dtypes]}
    own = tuple(p for p in compare.allowed_precisions(names) if p == "float64" or p in names)
    verdicts = [compare.judge(u, r, M, compare.PRECISIONS)[0] for _, u, r, M in pairs]
    passed = [v for v in verdicts if v in own]  # at least the inputs' precision: candidates are matched in it too
    precision = max([*passed, compare.precision_of(input_dtype)], key=compare.UNIT_ROUNDOFF.get) if passed else own[-1]
    notes = []
    if "float32" not in own and compare.float32_by_evidence([(u, r, M) for _, u, r, M in pairs], verdicts):
        precision = "float32"
    coarsest = max(names, key=compare.UNIT_ROUNDOFF.get)
    if pairs and compare.UNIT_ROUNDOFF[precision] > compare.UNIT_ROUNDOFF[coarsest]:
        worst = max(compare.rel_error(u, r) for _, u, r, _ in pairs)
        notes.append(f"agrees to {worst:.0e}: your code computes in {precision} somewhere although it returns "
                     f"{coarsest}; within {precision}'s rounding bound for this problem")
    unresolved = sorted({n for n, _, r, M in pairs if np.linalg.norm(r) <= compare.bound(M, precision)})
    if unresolved:
        notes.append(f"{', '.join(unresolved)} below {precision}'s rounding bound for this problem: there a mistake "
                     "cannot be told from rounding")
    return precision, notes


def first_pass(layer, name, u, r, M, case, precision):
    """(kind, factor, message); kind None means 'try the candidates' (factor then a fitted fallback)."""
    close = lambda u, r, M: compare.close(u, r, M, precision)  # noqa: E731
    if isinstance(u, Missing):
        return "missing", None, u.message
    if u.shape != r.shape:
        kind, message = shape_kind(layer, name, u, r, M, case, close)
        return kind, None, message
    if not np.all(np.isfinite(u)):
        return "nonfinite", None, f"{name} holds {int(np.sum(~np.isfinite(u)))} NaN/Inf value(s) of {u.size}"
    if close(u, r, M):
        return "ok", None, ""
    rr = float(np.sum(r * r))
    c = float(np.sum(u * r)) / rr if rr > 0 else 0.0
    if c != 0 and close(u, c * r, abs(c) * M) and not close(c * r, r, M):
        m = case.dims.get("m", case.dims.get("N", 1))
        value, text, kind = snap(c, factors(layer, name, case.dims, case.mode), m)
        if text is None:
            return None, value, f"{name} ≈ {c:.4g} × expected: a constant factor (fitted, not a recognisable one)"
        return kind, value, factor_message(layer, kind, name, text)
    for perm in permutations(r.shape, u.shape):
        if close(u, r.transpose(perm), M.transpose(perm)):
            return "transpose", None, f"{name} is the expected one with axes swapped: {_axes(layer, name, case, perm)}"
    return None, None, ""


def factor_message(layer, kind, name, text):
    fam, backward = family(layer), signature(layer).backward
    if kind == "sign":
        return f"{name} = −1 × expected: wrong sign"
    if kind == "extra-1/m":
        n = "N" if fam == "batchnorm" else "m"
        return (f"{name} = {text} × expected: {backward} sums over the {n} examples with no 1/{n} (the cost's "
                "1/m, if any, is already in the upstream gradient)")
    if kind == "bias-in-window-sum":
        return (f"db = {text} × expected: dZ[i, h, w, c] is added once per entry of the window; add it once per "
                "window, db[:, :, :, c] += dZ[i, h, w, c]")
    if kind == "average-not-divided":
        return (f"dA_prev = {text} × expected: average pooling spreads dA / (f·f) over each window "
                "(distribute_value: average = dz / (n_H * n_W) of the window)")
    return f"{name} = {text} × expected: an extra constant factor"


def _axes(layer, name, case, perm):
    spec = expected_shape(layer, name, case.dims)[0][1:-1].split(", ")
    return "(" + ", ".join(spec[k] for k in perm) + ")" if len(spec) == len(perm) else str(perm)


def shape_kind(layer, name, u, r, M, case, close):
    """(kind, message) for u whose shape differs from r's."""
    symbols, want = expected_shape(layer, name, case.dims)
    got, d = tuple(u.shape), case.dims
    head = f"{name} must be {symbols} = {want}, got {got}"
    if family(layer) == "conv" and name == "dA_prev" and u.ndim == 4:
        p = d["pad"]
        if p == 0 and 0 in got[1:3]:
            return "empty-pad-slice", (f"{head}: at pad = 0, X[pad:-pad] is X[0:-0] = X[0:0], empty; unpad with "
                                       "X[pad:pad + n_H_prev, pad:pad + n_W_prev, :]")
        if got == (d["m"], d["n_H_prev"] + 2 * p, d["n_W_prev"] + 2 * p, d["n_C_prev"]):
            inner = close(u[:, p:p + d["n_H_prev"], p:p + d["n_W_prev"], :], r, M)
            return "padding-not-stripped", (f"{head}: the padded gradient (m, n_H_prev + 2 pad, n_W_prev + 2 pad, "
                                            f"n_C_prev) with pad = {p}" + ("; its interior is right" if inner else "")
                                            + ": strip the padding, "
                                            "da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :]")
    m = d.get("m", d.get("N"))
    if u.ndim == r.ndim + 1 and got[0] == m and got[1:] == r.shape and close(u.sum(axis=0), r, M):
        return "not-summed-over-examples", f"{head}: one {name} per example (a leading axis of m = {m}); sum over them"
    for perm in permutations(r.shape, got):
        if close(u, r.transpose(perm), M.transpose(perm)):
            return "transpose", f"{head}: axes swapped, {_axes(layer, name, case, perm)}"
    if family(layer) == "batchnorm" and r.ndim == 1 and got == (1, r.size):
        return "shape", f"{head}: sum over axis 0 without keepdims, np.sum(..., axis=0)"
    if family(layer) == "batchnorm" and r.ndim == 1 and got == (r.size, r.size):
        return "shape", (f"{head}: a (D, D) matrix: {name} = np.sum(dout{' * x_hat' if name == 'dgamma' else ''}, "
                         "axis=0), elementwise and then over the examples")
    if u.size == r.size and close(u.reshape(r.shape), r, M):
        return "shape", f"{head}: the values are right; keep the course's shape (keepdims=True, or reshape)"
    return "shape", head


def explain(wrong, user, runs, ref, M, precision):
    """{name: (kind, message)} for the wrong outputs some candidate reproduces (greedy: most outputs first)."""
    found, left = {}, set(wrong)
    while left:
        best, best_hits = None, set()
        for kind, message, outs in runs:
            hits = set()
            for n in left:
                if n in outs and comparable(user[n], outs[n]) and outs[n].shape == ref[n].shape:
                    grow = max(1.0, float(np.linalg.norm(outs[n]) / max(np.linalg.norm(ref[n]), 1e-300)))
                    if compare.close(user[n], outs[n], grow * M[n], precision):
                        hits.add(n)
            if len(hits) > len(best_hits):
                best, best_hits = (kind, message), hits
        if not best_hits:
            break
        for n in best_hits:
            found[n] = (best[0], best[1].replace("{}", n))
        left -= best_hits
    return found


def judge_case(layer, case, user, ref, M, runs, precision):
    """{name: CaseResult} for one case; runs() gives the case's candidates (computed only when needed)."""
    results, pending = {}, {}
    for name, r in ref.items():
        u = user[name]
        kind, factor, message = first_pass(layer, name, u, r, M[name], case, precision)
        if kind is None:
            pending[name] = (factor, message)
        results[name] = [kind, factor, message]
    if pending:
        for name, (kind, message) in explain(list(pending), user, runs(), ref, M, precision).items():
            results[name] = [kind, None, message]
            pending.pop(name)
    for name, (factor, message) in pending.items():
        u, r = user[name], ref[name]
        if factor is not None:
            results[name] = ["scale", factor, message]
        elif not np.any(u) and np.any(r):
            results[name] = ["zeros", None, f"{name} is all zeros: it is never written (initialised with np.zeros "
                             "and never added to?)"]
        else:
            results[name] = ["unexplained", None, f"{name}: rel error {compare.rel_error(u, r):.2g} and no recognised "
                             "mistake fits"]
    out = {}
    for name, (kind, factor, message) in results.items():
        u, r = user[name], ref[name]
        ok_shape = comparable(u, r)
        ratio = compare.judge(u, r, M[name], (precision,))[1] if ok_shape else None
        rel = compare.rel_error(u, r) if ok_shape else float("nan")
        out[name] = CaseResult(case.label, kind, rel, ratio, factor, message)
    return out


def row(name, stage, results):
    """One LayerRow from an output's CaseResults (in case order); its numbers are its `case`'s: the worst
    case when every case is ok, else the first case showing the row's kind."""
    failing = [r for r in results if r.kind != "ok"]
    if not failing:
        worst = max(results, key=lambda r: r.bound_ratio or 0.0)
        return LayerRow(name, stage, "ok", worst.rel_error, worst.bound_ratio, None, "", worst.case, tuple(results))
    counts = Counter(r.kind for r in failing)
    kind = max(counts, key=lambda k: (counts[k], -[r.kind for r in failing].index(k)))
    rep = next(r for r in failing if r.kind == kind)
    message = rep.message
    if len(failing) < len(results) or len(counts) > 1:
        parts = [f"{kind} at {', '.join(r.case for r in failing if r.kind == kind)}"]
        parts += [f"{r.kind} at {r.case}" for r in failing if r.kind != kind]
        oks = [r.case for r in results if r.kind == "ok"]
        parts += [f"ok at {', '.join(oks)}"] if oks else []
        message = f"{message} [{'; '.join(parts)}]"
    return LayerRow(name, stage, kind, rep.rel_error, rep.bound_ratio, rep.factor, message, rep.case, tuple(results))
