"""A forward's values (its cache's Z[l], A[l], D[l], its output and cost) and a cost, against float64.

    forward_rows(a, fn, P, notes) -> (rows, (AL, cache) or None)      the learner's forward, called once
    check_cost(a, fn, P, context) -> Report                           compute_cost_with_regularization
A value is ok within compare's rounding bound GROWTH u_p ||M|| (p the least precise dtype in or out), M
its magnitudes propagated through the forward in absolute values as compare.magnitudes does:
    M_A[0] = |X|,  M_Z[l] = |W[l]| M_A[l-1] + |b[l]|,  M_A[l] = |A[l]| + |g'(Z[l])| M_Z[l] (× D[l]/keep_prob)
    M_cost = (1/m) Σ (|Y log A| + |(1-Y) log(1-A)| + |dL/dA| M_A[L])   (+ (λ/2m) Σ ||W||²)
otherwise the first wrong one is diagnosed (another g, the dropout mask not applied or not rescaled, a
missing 1/m, an L2 term missing, without 1/m or doubled) and the later ones are said to follow from it.
The dropout masks come from the learner's cache.
"""

import numpy as np

from jaxbp.checking import compare, diagnose, reference
from jaxbp.checking.compare import rel_error
from jaxbp.checking.diagnose import Row
from jaxbp.course import assignments, helpers
from jaxbp.course.problems import precision, report


def forward_rows(fa, fn, P, notes):
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
    near = compare.Near(forward_magnitudes(P, ref),
                        precision([P.X, *P.parameters.values(), *(x for _, x in items if hasattr(x, "dtype"))]))
    first_wrong = None
    for name, u in items:
        row = _forward_row(name, u, ref, P, near, first_wrong)
        rows.append(row)
        first_wrong = first_wrong or (None if row.ok else name)
    return rows, (AL, cache)


def forward_magnitudes(P, ref):
    """{"Z1": M, "A1": M, ..., "AL": M, "cost": M}: the magnitudes of the forward's values (module docstring)."""
    g_prime = reference.NP_G_PRIME
    M, MA, L = {}, np.abs(np.asarray(P.X, np.float64)), ref.L
    for l, p in enumerate(P.layers, start=1):
        MZ = np.abs(np.asarray(p.W, np.float64)) @ MA + np.abs(np.asarray(p.b, np.float64))
        act = P.net.output if l == L else P.net.hidden
        mult = 1 if l == L or ref.mask is None else ref.mask[l - 1]
        MA = np.abs(ref.A[l]) + np.abs(g_prime[act](ref.Z[l - 1])) * MZ * mult
        M[f"Z{l}"], M[f"A{l}"] = MZ, MA
    A, Y = np.clip(ref.A[L], 1e-300, 1 - 1e-16), np.asarray(P.Y, np.float64)
    dL_dA = np.abs(Y / A) + np.abs((1 - Y) / (1 - A))
    M["AL"] = MA
    M["cost"] = np.asarray(np.mean(np.abs(Y * np.log(A)) + np.abs((1 - Y) * np.log(1 - A)) + dL_dA * MA))
    return M


def _forward_row(name, u, ref, P, near, first_wrong):
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
    e, ratio = rel_error(u, r), compare.judge(u, r, near.M[key], (near.precision,))[1]
    if near(key, u, r):
        return Row(name, l, e, "ok", None, "", bound_ratio=ratio)
    if first_wrong:
        return Row(name, l, e, "unexplained", None, f"{name} is computed from your {first_wrong}, which is wrong",
                   bound_ratio=ratio)
    for kind, value, text in _forward_candidates(key, l, ref, P):
        if near(key, u, value):
            return Row(name, l, e, kind, None, text, bound_ratio=ratio)
    if key == "cost" and near(key, u, P.m * r, scale=P.m):
        return Row(name, l, e, "missing-1/m", float(P.m), "cost = m × expected: the 1/m of J = (1/m) Σ L is missing",
                   bound_ratio=ratio)
    kind, _, factor, message = diagnose.first_pass(key, l, u, r, m=P.m, near=near, placement=P.placement)
    return Row(name, l, e, kind or ("scale" if factor is not None else "unexplained"), factor,
               message or f"{name}: rel error {e:.2g}, no recognised mistake fits", bound_ratio=ratio)


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


def check_cost(a, fn, P, context):
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
    M = forward_magnitudes(P, reference.reference(P.layers, P.X, P.Y, hidden=P.net.hidden, output=P.net.output,
                                                  placement=P.placement))["cost"] + lam / (2 * m) * l2
    near = compare.Near({"cost": M}, precision([A3, *P.parameters.values(), out]))
    u = np.asarray(out)
    if u.size != 1 or not np.issubdtype(u.dtype, np.number):
        row = Row("cost", 0, float("nan"), "shape", None, f"the cost must be a number; got {type(out).__name__} "
                  f"{getattr(out, 'shape', '')}")
    else:
        u = float(u.ravel()[0])
        e, ratio = rel_error(u, expected), compare.judge(u, expected, M, (near.precision,))[1]
        fits = [("l2-missing", ce, "the L2 term (λ/2m) Σ ‖W[l]‖² is missing"),
                ("l2-without-1/m", ce + lam / 2 * l2, "the L2 term is (λ/2) Σ ‖W‖² without 1/m: it is (λ/2m) Σ ‖W‖²"),
                ("l2-doubled", ce + lam / m * l2, "the L2 term is doubled: (λ/m) Σ ‖W‖²; it is (λ/2m) Σ ‖W‖²"),
                ("missing-1/m", m * ce + lam / (2 * m) * l2, "the cross-entropy part lacks its 1/m")]
        fits += [("l2-missing", expected - lam / (2 * m) * s, f"‖W{l}‖² is missing from the L2 sum")
                 for l, s in enumerate(squares, start=1)]
        kind, message = ("ok", "") if near("cost", u, expected) else next(
            ((k, f"{t} (λ = {lam:g})") for k, v, t in fits if near("cost", u, v)),
            ("unexplained", f"cost: rel error {e:.2g}, no recognised mistake fits"))
        row = Row("cost", 0, e, kind, None, message, bound_ratio=ratio)
    called = assignments.call_text(getattr(fn, "__name__", a.name), values)
    return report([row], P, notes, (*context, f"called: {called}"), [A3])


