"""Name the mistake in a hand-written backprop: per-parameter diagnosis and where it starts.

Contract
    Everything here is NumPy float64 and compares the user's arrays u with the exact
    reference r (jax.grad in float64, prepared by jaxbp.check) with Ng's metric
        rel_error(u, r) = ||u - r|| / (||u|| + ||r||).
    A parameter is ok when ||u - r|| is within the rounding bound of a correct computation of this
    problem (jaxbp.checking.compare: GROWTH u_p ||M||, p the precision the code computed in); every
    "u equals a candidate" test below uses the same bound through `near(key, u, candidate, scale)`.
    Otherwise it gets exactly one kind from the closed vocabulary KINDS, tried in this order:
        nonfinite                 u holds NaN or Inf
        shape, transpose,         u has the wrong shape (expected shape in the course's
        wrong-reduction-axis      notation), is r.T, or is db summed over the wrong axis
        missing-1/m, double-1/m,  u = c r for one constant c (fitted by least squares and
        sign, scale               snapped to m, 1/m, -1, 2, 1/2, 4, ...)
        wrong-activation-         u matches a recomputed candidate backprop with another g'
        derivative, derivative-   at a layer, g'(A) instead of g'(Z), or W instead of W.T
        at-A, transpose           in dA[l-1] = W[l].T dZ[l]
        dAL-reused                the course's dAL fed to a hidden layer (dZ[l] = dAL * g'(Z[l]))
        wrong-layer-dA            a hidden layer fed dA[k], k > l, of another layer
        wrong-layer-cache         A[k], W[k] or Z[k] from another layer's cache (also a dW of the
                                  wrong shape that is dZ[l] A[k].T)
        l2-missing, l2-without-   the L2 term c W[l] (c = λ/m) absent, λ W[l], or 2 c W[l]
        1/m, l2-doubled
        dropout-mask-missing,     dA[l] not multiplied by D[l], or not divided by keep_prob
        dropout-not-scaled
        unexplained               nothing above fits
    (dropout-mask-wrong and wrong-activation are the forward's, used by jaxbp.course.)
    Candidates run the core's own loop, backprop._backward_loop, in NumPy float64 on the reference's
    arrays (placement convention s = 1/m if deferred):
        dW[l] = s dZ[l] A[l-1].T + c W[l];  db[l] = s sum_i dZ[l];  dA[l-1] = (W[l].T dZ[l]) * M[l-1]
        dZ[l-1] = dA[l-1] * g'(Z[l-1])
    (c = λ/m with L2, M[l] = D[l] / keep_prob with dropout, else 0 and 1) with one piece swapped
    (a backprop.Swap), so a bug at layer l explains dW, db of layer l and below.
"""

from dataclasses import dataclass

import numpy as np

from jaxbp import backprop, model
from jaxbp.checking import compare
from jaxbp.checking.compare import rel_error

# The course's own mistakes (hidden layers, caches, C2W1's L2 and dropout); see candidates().
# wrong-activation and dropout-mask-wrong are the forward's (a learner's forward, checked by jaxbp.course).
COURSE_KINDS = ("dAL-reused", "wrong-layer-dA", "wrong-layer-cache", "l2-missing", "l2-without-1/m", "l2-doubled",
                "dropout-mask-missing", "dropout-not-scaled", "dropout-mask-wrong", "wrong-activation")
KINDS = ("ok", "scale", "missing-1/m", "double-1/m", "transpose", "wrong-activation-derivative",
         "derivative-at-A", "sign", "wrong-reduction-axis", "shape", "nonfinite", "unexplained",
         *COURSE_KINDS)

@dataclass(frozen=True)
class Row:
    """One parameter's verdict: machine fields for graders, message for learners."""

    name: str  # course name: "dW2", "db1"
    layer: int  # l
    rel_error: float  # ||u - r|| / (||u|| + ||r||); nan when the shapes differ
    kind: str  # one of KINDS
    factor: float | None  # u = factor * r for scale kinds (snapped or fitted), else None
    message: str
    fd_rel_error: float | None = None  # ||u - fd|| / (||u|| + ||fd||) when fd=True
    kinks: int | None = None  # ReLU kinks the finite differences of this parameter crossed
    bound_ratio: float | None = None  # ||u - r|| / the rounding bound at the report's precision (<= 1: ok)

    @property
    def ok(self):
        return self.kind == "ok"

    @property
    def verdict(self):
        return "ok" if self.ok else "WRONG"


def snap(c, m):
    """(value, text) of the recognisable constant c equals to 1e-3 relative, else (c, None)."""
    table = [(m, f"m = {m}"), (1 / m, f"1/m = 1/{m}"), (m * m, "m²"), (1 / (m * m), "1/m²"),
             (2, "2"), (0.5, "1/2"), (4, "4"), (0.25, "1/4"), (3, "3"), (1 / 3, "1/3")]
    table += [(-v, "−" + t) for v, t in table] + [(-1.0, "−1")]
    for value, text in table:
        if abs(c / value - 1) <= 1e-3:
            return float(value), text
    return float(c), None


def expected_shape(name, l, shape):
    """The course's notation for a parameter's shape: "dW2 must be (n[2], n[1]) = (3, 5)"."""
    symbols = f"(n[{l}], n[{l - 1}])" if name.startswith("dW") else f"(n[{l}], 1)"
    return f"{name} must be {symbols} = {tuple(shape)}"


def _shape_row(name, l, u, r, m, near):
    """Diagnose u whose shape differs from r's: transpose, wrong-reduction-axis or shape."""
    want, got = expected_shape(name, l, r.shape), tuple(u.shape)
    if name.startswith("dW") and got == r.T.shape and near(name, u.T, r):
        return "transpose", f"{want}, got {got}: it is the transpose of {name} (dW = dZ A_prev.T)"
    if name.startswith("db"):
        n_l = r.shape[0]
        if got in ((1, m), (m,)) and n_l != 1:
            return "wrong-reduction-axis", (f"{want}, got {got}: db is summed over the units (axis 0); "
                                            "sum over the examples: np.sum(dZ, axis=1, keepdims=True)")
        if got in ((n_l, m), (1, m)):
            return "wrong-reduction-axis", f"{want}, got {got}: db is not summed over the m examples (axis 1)"
        if got in ((), (1,), (1, 1)) and n_l != 1:
            return "wrong-reduction-axis", f"{want}, got {got}: db is summed over everything; sum over axis 1 only"
        if got == (n_l,):
            return "shape", f"{want}, got {got}: keep the column with keepdims=True"
    return "shape", f"{want}, got {got}"


def _scale_row(name, c, m, placement):
    """kind, factor, message for u = c * r."""
    value, text = snap(c, m)
    if text == "−1":
        return "sign", value, f"{name} = −1 × expected: wrong sign (dZ[L] = AL − Y, not Y − AL)"
    if placement != "sum" and value == m:
        where = "dZ[L] = (AL − Y)/m" if placement == "absorbed" else "dW = (1/m) dZ A_prev.T, db = (1/m) Σ dZ"
        return "missing-1/m", value, f"{name} = m × expected (m = {m}): the 1/m is missing ({placement}: {where})"
    if placement != "sum" and value == 1 / m:
        return "double-1/m", value, (f"{name} = 1/m × expected (m = {m}): 1/m is applied twice "
                                     "(once in dZ[L] and again in dW, db)")
    if text is None:
        return "scale", value, f"{name} ≈ {c:.4g} × expected: a constant factor (fitted, not a recognisable one)"
    extra = " although placement='sum' (J = Σ L, no 1/m)" if placement == "sum" and value == 1 / m else ""
    return "scale", value, f"{name} = {text} × expected: extra constant factor{extra}"


def first_pass(name, l, u, r, *, m, near, placement):
    """(kind, rel_error, factor, message) from u and r alone; kind None means 'try candidates'.

    With kind None, a factor (and its message) is a fitted scale to fall back on.
    """
    if u.shape != r.shape:
        kind, message = _shape_row(name, l, u, r, m, near)
        return kind, float("nan"), None, message
    if not np.all(np.isfinite(u)):
        n_bad = int(np.sum(~np.isfinite(u)))
        return "nonfinite", float("nan"), None, f"{name} holds {n_bad} NaN/Inf value(s) of {u.size}"
    e = rel_error(u, r)
    if near(name, u, r):
        return "ok", e, None, ""
    rr = float(np.sum(r * r))
    if rr > 0:
        c = float(np.sum(u * r)) / rr
        # u = c r, with c itself not within rounding of 1 (that would be a near miss, not a factor)
        if c != 0 and near(name, u, c * r, scale=c) and not near(name, c * r, r):
            kind, factor, message = _scale_row(name, c, m, placement)
            if "fitted" in message:  # the last resort: a candidate may explain more; never for one number,
                return None, e, (factor if u.size > 1 else None), (message if u.size > 1 else "")  # which any c fits
            return kind, e, factor, message
    if u.ndim == 2 and u.shape[0] == u.shape[1] and u.size > 1 and near(name, u, r.T, transpose=True):
        return "transpose", e, None, f"{name} is the transpose of the expected one (dW = dZ A_prev.T)"
    return None, e, None, ""


def candidate_runner(ref):
    """run(dZL, **swapped): {"dW1": ..., "db1": ..., ...} by the core's loop with pieces swapped, or None.

    swapped: backprop.Swap's fields by layer (A_prev, W, lambd, mask, g_prime, upstream). The reference's
    own g'(Z[l]) and D[l] / keep_prob fill the rest, so the loop runs in NumPy and compiles nothing.
    None when the swapped-in arrays do not fit (the learner's code would have raised): a dA[k] that does
    not broadcast with g'(Z[l]) raises there, and one that does but gives dZ[l] another row count
    raises at the next W.T @ dZ.
    """
    hidden_layers = range(1, ref.L)
    g_prime = dict(zip(hidden_layers, ref.g_prime_at_Z[ref.hidden], strict=False))
    mask = dict(zip(hidden_layers, ref.mask or (), strict=False))
    params = tuple(model.Layer(W=W, b=None) for W in ref.W)
    caches = tuple(model.Cache(A_prev=A_prev, Z=Z) for A_prev, Z in zip(ref.A, ref.Z, strict=False))

    def run(dZL, **swapped):
        swap = backprop.Swap(**{**swapped, "g_prime": g_prime | swapped.get("g_prime", {}),
                                "mask": mask | swapped.get("mask", {}), "dAL": ref.dAL})
        try:
            grads, _ = backprop._backward_loop(dZL, params, caches, ref.hidden, ref.placement, ref.m, ref.lambd,
                                               swap=swap)
        except ValueError:  # operands that do not broadcast, or a product of mismatched shapes
            return None
        return {f"d{q}{l}": getattr(g, q) for l, g in enumerate(grads, start=1) for q in "Wb"}

    return run


def candidates(ref):
    """(kind, layer, message, dZL, swapped pieces for candidate_runner) for each recognised mistake."""
    L, hidden, dZL = ref.L, ref.hidden, ref.dZ[-1]
    hidden_layers = range(1, L)
    yield from _course_candidates(ref)
    for alt in (a for a in ref.g_prime_at_Z if a != hidden):
        note = " (g′ dropped: dZ = dA)" if alt == "identity" else ""
        for l in hidden_layers:
            yield ("wrong-activation-derivative", l, f"layer {l} is {hidden} but {alt}′ fits{note}", dZL,
                   dict(g_prime={l: ref.g_prime_at_Z[alt][l - 1]}))
        if L > 2:
            yield ("wrong-activation-derivative", L - 1,
                   f"hidden layers are {hidden} but {alt}′ fits at every one{note}", dZL,
                   dict(g_prime={l: ref.g_prime_at_Z[alt][l - 1] for l in hidden_layers}))
    if hidden in ("sigmoid", "tanh"):  # relu'(A) = relu'(Z): at A the mistake is harmless for the others
        for l in hidden_layers:
            yield ("derivative-at-A", l,
                   f"layer {l}: g′ is evaluated at A{l} instead of Z{l} ({hidden}′(A{l}) fits)", dZL,
                   dict(g_prime={l: ref.g_prime_at_A[l - 1]}))
        if L > 2:
            yield ("derivative-at-A", L - 1,
                   f"hidden layers: g′ is evaluated at A instead of Z ({hidden}′(A) fits)", dZL,
                   dict(g_prime={l: ref.g_prime_at_A[l - 1] for l in hidden_layers}))
    if ref.dAL is not None:  # the output layer's own g': dZ[L] = dAL * g'(Z[L]) with another g'
        out = ref.output
        yield ("wrong-activation-derivative", L,
               f"layer {L}: {out}′ is applied twice (dZ[L] = AL − Y already includes it)",
               dZL * ref.g_prime_at_Z[out][-1], {})
        for alt in (a for a in ref.g_prime_at_Z if a != out):
            note = " (g′ dropped: dZ[L] = dAL)" if alt == "identity" else ""
            yield ("wrong-activation-derivative", L, f"layer {L} is {out} but {alt}′ fits{note}",
                   ref.dAL * ref.g_prime_at_Z[alt][-1], {})
        if out in ("sigmoid", "tanh"):
            yield ("derivative-at-A", L, f"layer {L}: g′ is evaluated at AL instead of Z{L} ({out}′(AL) fits)",
                   ref.dAL * ref.g_prime_at_A[-1], {})
    for l in range(2, L + 1):
        if ref.W[l - 1].shape[0] == ref.W[l - 1].shape[1]:
            yield ("transpose", l, f"dA{l - 1} = W{l} dZ{l} fits: W{l} is not transposed (dA_prev = W.T dZ)", dZL,
                   dict(W={l: ref.W[l - 1].T}))


def _course_candidates(ref):
    """The course's own mistakes: dAL or another layer's dA fed down, a cache entry from another layer,
    the L2 term (C2W1) missing, without 1/m or doubled, the dropout mask not applied or not rescaled."""
    L, dZL, hidden_layers = ref.L, ref.dZ[-1], range(1, ref.L)
    if ref.dAL is not None and L > 1:
        fix = "pass the dA_prev that the layer above returned, not dAL"
        for l in reversed(hidden_layers) if L > 2 else ():
            yield ("dAL-reused", l, f"layer {l} is fed dAL: dZ{l} = dAL * g′(Z{l}) fits; {fix}", dZL,
                   dict(upstream={l: L}))
        yield ("dAL-reused", L - 1, f"every hidden layer is fed dAL: dZ[l] = dAL * g′(Z[l]) fits; {fix}", dZL,
               dict(upstream=dict.fromkeys(hidden_layers, L)))
        if ref.output in ref.g_prime_at_Z and ref.output != ref.hidden:
            yield ("dAL-reused", L - 1, f"every layer is the output layer: dZ[l] = dAL * {ref.output}′(Z[l]) fits; "
                   f"hidden layers take the dA_prev of the layer above and {ref.hidden}′", dZL,
                   dict(upstream=dict.fromkeys(hidden_layers, L),
                        g_prime={l: ref.g_prime_at_Z[ref.output][l - 1] for l in hidden_layers}))
    for l in reversed(hidden_layers):
        for k in range(l + 1, L):
            yield ("wrong-layer-dA", l, f"layer {l} is fed dA{k} instead of dA{l}: dZ{l} = dA{k} * g′(Z{l}) fits "
                   f"(a layer index off by {k - l})", dZL, dict(upstream={l: k}))
    for l in range(L, 0, -1):
        for k in (k for k in range(L + 1) if k != l - 1 and ref.A[k].shape == ref.A[l - 1].shape):
            yield ("wrong-layer-cache", l, f"dW{l} = dZ{l} A{k}.T fits: A{k} is taken where A{l - 1} belongs "
                   f"(layer {l}'s cache holds A_prev = A{l - 1})", dZL, dict(A_prev={l: ref.A[k]}))
        for k in (k for k in range(1, L + 1) if k != l and ref.W[k - 1].shape == ref.W[l - 1].shape):
            yield ("wrong-layer-cache", l, f"dA{l - 1} = W{k}.T dZ{l} fits: W{k} is taken where W{l} belongs",
                   dZL, dict(W={l: ref.W[k - 1]}))
        for k in (k for k in range(1, L + 1) if l < L and k != l and ref.Z[k - 1].shape == ref.Z[l - 1].shape):
            yield ("wrong-layer-cache", l, f"dZ{l} = dA{l} * g′(Z{k}) fits: Z{k} is taken where Z{l} belongs",
                   dZL, dict(g_prime={l: ref.g_prime_at_Z[ref.hidden][k - 1]}))
    if ref.lambd:  # the loop's term is (λ'/m) W (λ' W for the sum placement): λ' = 0, λ m, 2 λ
        lam = f"λ = {ref.lambd:g}"
        wrong = [("l2-missing", 0.0, "the L2 term (λ/m) W{l} is missing from dW{l}"),
                 ("l2-doubled", 2 * ref.lambd,
                  "the L2 term is doubled: 2 (λ/m) W{l} fits; d/dW of (λ/2m) ‖W‖² is (λ/m) W")]
        if ref.placement != "sum":
            wrong.insert(1, ("l2-without-1/m", ref.lambd * ref.m,
                             "the L2 term is λ W{l} without 1/m: it is (λ/m) W{l}"))
        for kind, value, text in wrong:
            for l in range(L, 0, -1):
                yield kind, l, text.format(l=l) + f" ({lam})", dZL, dict(lambd={l: value})
            yield kind, None, text.format(l="") + f" in every layer ({lam})", dZL, dict(
                lambd=dict.fromkeys(range(1, L + 1), value))
    if ref.mask is not None:
        kp = ref.keep_prob
        for kind, text, fn in (
                ("dropout-not-scaled", "dA{l} is masked with D{l} but not divided by keep_prob = {kp:g}",
                 lambda l: ref.mask[l - 1] * kp),
                ("dropout-mask-missing", "dA{l} is not multiplied by the mask D{l} (only divided by keep_prob)",
                 lambda l: np.full_like(ref.mask[l - 1], 1 / kp)),
                ("dropout-mask-missing", "dA{l} is neither masked with D{l} nor divided by keep_prob",
                 lambda l: np.ones_like(ref.mask[l - 1]))):
            for l in reversed(hidden_layers):
                yield kind, l, text.format(l=l, kp=kp) + " in backward", dZL, dict(mask={l: fn(l)})
            if L > 2:
                yield (kind, None, text.format(l="[l]", kp=kp) + " in every hidden layer", dZL,
                       dict(mask={l: fn(l) for l in hidden_layers}))


def explain(user, wrong, ref, near):
    """{name: (kind, layer, message)} for the wrong names some candidate backprop reproduces.

    Greedy: the candidate reproducing most still-unexplained parameters wins (first listed on ties,
    so one layer beats all layers); repeat while any candidate reproduces one.
    """
    found, left = {}, set(wrong)
    if not left:
        return found
    run = candidate_runner(ref)
    runs = [(kind, l, msg, grads) for kind, l, msg, dZL, kw in candidates(ref) if (grads := run(dZL, **kw)) is not None]
    while left:
        best, best_hits = None, set()
        for kind, l, msg, grads in runs:
            hits = {n for n in left if near(n, user[n], grads[n])}
            if len(hits) > len(best_hits):
                best, best_hits = (kind, l, msg), hits
        if not best_hits:
            break
        for n in best_hits:
            origin = best[1]  # None: the same mistake made in every layer, nothing inherited
            layer_n = int(n[2:])
            prefix = "" if origin in (None, layer_n) else f"inherited from layer {origin}: "
            found[n] = (best[0], origin or layer_n, prefix + best[2])
        left -= best_hits
    return found


def explain_shape(name, u, ref, near):
    """(kind, message) for a dW of the wrong shape that is dZ[l] A[k].T with A[k] from another layer, else None."""
    l = int(name[2:])
    if not name.startswith("dW") or u.ndim != 2:
        return None
    s = 1 / ref.m if ref.placement == "deferred" else 1
    for k in (k for k in range(ref.L + 1) if k != l - 1 and ref.A[k].shape[0] == u.shape[1]):
        M = s * near.M[("dZ", l)] @ np.abs(ref.A[k]).T  # the candidate's own magnitudes
        if u.shape[0] == ref.dZ[l - 1].shape[0] and compare.close(u, s * ref.dZ[l - 1] @ ref.A[k].T, M, near.precision):
            return "wrong-layer-cache", (f"{expected_shape(name, l, ref.W[l - 1].shape)}, got {tuple(u.shape)} = "
                                         f"dZ{l} A{k}.T: A{k} is taken where A{l - 1} belongs")
    return None


def locate(user_steps, rows, ref, near):
    """(l, quantity, notes): the first layer from L down whose dZ, dW, db or dA_prev diverges.

    user_steps maps ("dZ", l) / ("dA", l) to the user's arrays. An intermediate equal to m or 1/m
    times the reference while that layer's dW, db are right is the other placement's convention
    (absorbed dZ = deferred dZ / m): noted, not counted as a divergence.
    """
    by_name, other = {row.name: row for row in rows}, {}
    for l in range(ref.L, 0, -1):
        layer_ok = by_name[f"dW{l}"].ok and by_name[f"db{l}"].ok
        for q, i, r in (("dZ", l, ref.dZ[l - 1]), ("dW", l, None), ("db", l, None), ("dA", l - 1, ref.dA[l - 1])):
            name = f"{q}{i}"
            if r is None:
                if not by_name[name].ok:
                    return l, name, _placement_notes(other, ref)
                continue
            if (q, i) not in user_steps:
                continue
            u = user_steps[(q, i)]
            if u.shape != r.shape or not np.all(np.isfinite(u)):
                return l, name, _placement_notes(other, ref)
            if near((q, i), u, r):
                continue
            factors = [f for f, c in (("1/m", 1 / ref.m), ("m", ref.m)) if near((q, i), u, c * r, scale=c)]
            if layer_ok and factors:
                other.setdefault(factors[0], []).append(name)
                continue
            return l, name, _placement_notes(other, ref)
    return None, None, _placement_notes(other, ref)


def _placement_notes(other, ref):
    """One note per convention: "dZ3, dA2 = 1/m × the deferred ones: the absorbed placement's convention"."""
    return [f"{', '.join(names)} = {f} × the {ref.placement} ones: the {'absorbed' if f == '1/m' else 'deferred'} "
            "placement's convention (dZ absorbed = dZ deferred / m), a placement choice, not a bug"
            for f, names in other.items()]
