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
        unexplained               nothing above fits
    Candidates run the reference's own loop (placement convention s = 1/m if deferred):
        dW[l] = s dZ[l] A[l-1].T;  db[l] = s sum_i dZ[l];  dA[l-1] = W[l].T dZ[l];
        dZ[l-1] = dA[l-1] * g'(Z[l-1])
    with one piece swapped, so a bug at layer l explains dW, db of layer l and below.
"""

from dataclasses import dataclass

import numpy as np

from jaxbp.checking.compare import rel_error

KINDS = ("ok", "scale", "missing-1/m", "double-1/m", "transpose", "wrong-activation-derivative",
         "derivative-at-A", "sign", "wrong-reduction-axis", "shape", "nonfinite", "unexplained")

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


def run_candidate(ref, dZL, g_prime=None, transpose_at=()):
    """dW, db of every layer from dZ[L] by the reference loop, g'(Z[l]) replaced by g_prime[l]."""
    s = 1 / ref.m if ref.placement == "deferred" else 1
    g_prime, out, dZ = g_prime or {}, {}, dZL
    for l in range(ref.L, 0, -1):
        A_prev, W = ref.A[l - 1], ref.W[l - 1]
        out[f"dW{l}"] = s * dZ @ A_prev.T  # (n_l, n_{l-1})
        out[f"db{l}"] = s * np.sum(dZ, axis=1, keepdims=True)  # (n_l, 1)
        dA_prev = (W if l in transpose_at else W.T) @ dZ  # (n_{l-1}, m)
        if l > 1:
            dZ = dA_prev * g_prime.get(l - 1, ref.g_prime_at_Z[ref.hidden][l - 2])  # dZ[l-1]
    return out


def candidates(ref):
    """(kind, layer, message, dZL, g_prime overrides, transpose_at) for each recognised mistake."""
    L, hidden, dZL = ref.L, ref.hidden, ref.dZ[-1]
    hidden_layers = range(1, L)
    for alt in (a for a in ref.g_prime_at_Z if a != hidden):
        note = " (g′ dropped: dZ = dA)" if alt == "identity" else ""
        for l in hidden_layers:
            yield ("wrong-activation-derivative", l, f"layer {l} is {hidden} but {alt}′ fits{note}", dZL,
                   {l: ref.g_prime_at_Z[alt][l - 1]}, ())
        if L > 2:
            yield ("wrong-activation-derivative", L - 1,
                   f"hidden layers are {hidden} but {alt}′ fits at every one{note}", dZL,
                   {l: ref.g_prime_at_Z[alt][l - 1] for l in hidden_layers}, ())
    if hidden in ("sigmoid", "tanh"):  # relu'(A) = relu'(Z): at A the mistake is harmless for the others
        for l in hidden_layers:
            yield ("derivative-at-A", l,
                   f"layer {l}: g′ is evaluated at A{l} instead of Z{l} ({hidden}′(A{l}) fits)", dZL,
                   {l: ref.g_prime_at_A[l - 1]}, ())
        if L > 2:
            yield ("derivative-at-A", L - 1,
                   f"hidden layers: g′ is evaluated at A instead of Z ({hidden}′(A) fits)", dZL,
                   {l: ref.g_prime_at_A[l - 1] for l in hidden_layers}, ())
    if ref.dAL is not None:  # the output layer's own g': dZ[L] = dAL * g'(Z[L]) with another g'
        out = ref.output
        yield ("wrong-activation-derivative", L,
               f"layer {L}: {out}′ is applied twice (dZ[L] = AL − Y already includes it)",
               dZL * ref.g_prime_at_Z[out][-1], {}, ())
        for alt in (a for a in ref.g_prime_at_Z if a != out):
            note = " (g′ dropped: dZ[L] = dAL)" if alt == "identity" else ""
            yield ("wrong-activation-derivative", L, f"layer {L} is {out} but {alt}′ fits{note}",
                   ref.dAL * ref.g_prime_at_Z[alt][-1], {}, ())
        if out in ("sigmoid", "tanh"):
            yield ("derivative-at-A", L, f"layer {L}: g′ is evaluated at AL instead of Z{L} ({out}′(AL) fits)",
                   ref.dAL * ref.g_prime_at_A[-1], {}, ())
    for l in range(2, L + 1):
        if ref.W[l - 1].shape[0] == ref.W[l - 1].shape[1]:
            yield ("transpose", l, f"dA{l - 1} = W{l} dZ{l} fits: W{l} is not transposed (dA_prev = W.T dZ)", dZL,
                   {}, (l,))


def explain(user, wrong, ref, near):
    """{name: (kind, layer, message)} for the wrong names some candidate backprop reproduces.

    Greedy: the candidate reproducing most still-unexplained parameters wins (first listed on ties,
    so one layer beats all layers); repeat while any candidate reproduces one.
    """
    found, left = {}, set(wrong)
    if not left:
        return found
    runs = [(kind, l, msg, run_candidate(ref, dZL, gp, tr)) for kind, l, msg, dZL, gp, tr in candidates(ref)]
    while left:
        best, best_hits = None, set()
        for kind, l, msg, grads in runs:
            hits = {n for n in left if near(n, user[n], grads[n])}
            if len(hits) > len(best_hits):
                best, best_hits = (kind, l, msg), hits
        if not best_hits:
            break
        for n in best_hits:
            origin = best[1]
            layer_n = int(n[2:])
            prefix = "" if layer_n == origin else f"inherited from layer {origin}: "
            found[n] = (best[0], origin, prefix + best[2])
        left -= best_hits
    return found


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
