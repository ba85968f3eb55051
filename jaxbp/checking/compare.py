"""The one metric and the one bound every comparison in jaxbp uses.

Metric (Ng's relative error, reported everywhere)
    rel_error(u, r) = ||u - r|| / (||u|| + ||r||)      (Frobenius norms, in float64; 0 when both are 0)

Bound (what decides ok)
    A fixed threshold on rel_error fails both ways: at a stationary point dW is a sum of large
    terms that cancel, so even exact code differs from the reference by far more than the
    gradient's own size times eps; and code that computes in float32 but returns float64 agrees
    only to float32's level. So a quantity q (dW[l], db[l], dZ[l], dA[l]) is judged by
        ||u - r||  <=  bound_p(q) = GROWTH * u_p * ||M_q||
    with u_p the unit roundoff of precision p (2^-53 float64, 2^-24 float32, 2^-11 float16,
    2^-8 bfloat16) and M_q >= |q| the magnitude of the terms summed to form q, propagated
    through the whole forward and backward pass in absolute values (a running error analysis):
        forward    M_A[0] = |X|,  M_Z[l] = |W[l]| M_A[l-1] + |b[l]|,  M_A[l] = |A[l]| + |g'(Z[l])| M_Z[l]
        output     M_dZ[L] = M_A[L] + |Y|                        (AL - Y cancels as AL -> Y)
        backward   M_dA[l-1] = |W[l]|.T M_dZ[l]
                   M_dZ[l-1] = M_dA[l-1] |g'(Z[l-1])| + |dA[l-1]| G2 M_Z[l-1]  (+ |dA| at a kink)
                   M_dW[l] = s M_dZ[l] M_A[l-1].T,  M_db[l] = s sum_i M_dZ[l]
    (G2 bounds |g''|; an element of Z within rounding of a ReLU kink may flip g' between two
    correct codes, so it counts with its whole |dA|). s and the dZ/dA convention follow the
    placement, as the reference does. GROWTH absorbs the lengths of the sums and the constant
    of each operation; it is set from measurement (tests/test_compare.py and the note there):
    correct code at init, mid-training and converged stays far below it, and every planted
    mistake stays far above.

Precision
    The precision p is not read off the returned dtype: code may compute in float32 and hand
    back float64 (NumPy promotes A - Y when Y is float64). `judge` takes the list of precisions
    the comparison may assume (float64 and float32 always, 16-bit only where the user's inputs
    or outputs are 16-bit) and returns the most precise one whose bound holds; a caller notes
    when that is coarser than the dtype the code returned. float32 is assumed for code returning
    float64 only on the evidence of all its outputs together (float32_by_evidence).
"""

import numpy as np

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
PRECISIONS = ("float64", "float32", "float16", "bfloat16")  # most precise first

# The growth factor (see module docstring). Measured worst of ||u - r|| / (u_p ||M||) over correct code
# is in tests/test_compare.py's comment; GROWTH leaves the head-room stated there.
GROWTH = 64.0

# max |g''(z)| of each activation (relu/leaky_relu/identity: 0 away from the kink)
_G2 = {"sigmoid": 0.1, "tanh": 0.77, "relu": 0.0, "leaky_relu": 0.0, "identity": 0.0}


def rel_error(u, r):
    """Ng's ||u - r|| / (||u|| + ||r||) in float64; 0 when both are 0."""
    u, r = np.asarray(u, np.float64), np.asarray(r, np.float64)
    denom = np.linalg.norm(u) + np.linalg.norm(r)
    return float(np.linalg.norm(u - r) / denom) if denom > 0 else 0.0


def precision_of(dtype):
    """The name in PRECISIONS of a floating dtype ("float64", "float32", "float16", "bfloat16")."""
    name = np.dtype(dtype).name
    if name not in UNIT_ROUNDOFF:
        raise TypeError(f"dtype must be a floating dtype (float64, float32, float16, bfloat16), got {name}")
    return name


def allowed_precisions(dtypes):
    """The precisions a comparison may assume: float64, float32, and any 16-bit one among dtypes."""
    names = {precision_of(d) for d in dtypes}
    return tuple(p for p in PRECISIONS if p in ("float64", "float32") or p in names)


def bound(M, precision):
    """GROWTH * u_p * ||M||: the largest ||u - r|| a correct computation of q in `precision` reaches."""
    return GROWTH * UNIT_ROUNDOFF[precision] * float(np.linalg.norm(np.asarray(M, np.float64)))


def judge(u, r, M, precisions=("float64",)):
    """(precision, ratio): the most precise p in precisions with ||u - r|| <= bound_p(M), and
    ||u - r|| / bound_p; (None, ratio at the coarsest p) when none holds."""
    u, r = np.asarray(u, np.float64), np.asarray(r, np.float64)
    e = float(np.linalg.norm(u - r))
    ratio = float("inf")
    for p in precisions:
        b = bound(M, p)
        ratio = e / b if b > 0 else (0.0 if e == 0 else float("inf"))
        if ratio <= 1:
            return p, ratio
    return None, ratio


def float32_by_evidence(pairs, verdicts=None):
    """True when (u, r, M) pairs show code that computes in float32 although it returns float64.

    Such code leaves float32's rounding in nearly every output, so every u must be within float32's
    bound of r and at least 2/3 of them outside float64's (a slip in one output of float64 code is not
    excused), and float32 must resolve every r (||r|| above its bound), so that a mistake at a converged
    point is never excused as rounding. pairs: the outputs that can be compared (r's shape, finite);
    verdicts, when the caller has them: judge(u, r, M, PRECISIONS)[0] of each pair.
    """
    verdicts = [judge(u, r, M, PRECISIONS)[0] for u, r, M in pairs] if verdicts is None else list(verdicts)
    resolves = all(np.linalg.norm(np.asarray(r, np.float64)) > bound(M, "float32") for _, r, M in pairs)
    return (bool(pairs) and resolves and all(v in ("float64", "float32") for v in verdicts)
            and 3 * verdicts.count("float32") >= 2 * len(verdicts))


def close(u, r, M, precision):
    """True when u equals r up to the rounding of a correct computation in `precision`."""
    u, r = np.asarray(u, np.float64), np.asarray(r, np.float64)
    if u.shape != r.shape or not np.all(np.isfinite(u)):
        return False
    return judge(u, r, M, (precision,))[0] is not None


def magnitudes(layers, X, Y, Z, A, *, hidden, output, placement):
    """{"dW1": M, "db1": M, ..., ("dZ", l): M, ("dA", l): M}: the magnitudes M_q of the module docstring.

    layers: Layer(W, b) per layer; Z[l-1] = Z[l]; A[l] = A[l] (A[0] = X, A[L] = AL); all float64 NumPy.
    dZ, dA follow the reference's convention: per example for deferred and sum, / m for absorbed.
    """
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    L, m = len(layers), X.shape[1]
    W = [np.abs(f64(p.W)) for p in layers]
    b = [np.abs(f64(p.b)) for p in layers]
    Z = [f64(z) for z in Z]
    A = [f64(a) for a in A]
    acts = [hidden] * (L - 1) + [output]
    gp = [_abs_g_prime(acts[l], Z[l], A[l + 1]) for l in range(L)]  # |g'(Z[l+1])|, index l
    MA, MZ = [np.abs(A[0])], []
    for l in range(L):
        MZ.append(W[l] @ MA[-1] + b[l])
        MA.append(np.abs(A[l + 1]) + gp[l] * MZ[-1])
    kink_tol = 8 * UNIT_ROUNDOFF["float32"]  # a Z this close to 0, relative to M_Z, may round across the kink
    k = 1 / m if placement == "absorbed" else 1.0  # the dZ, dA convention of the reference
    s = 1 / m if placement == "deferred" else 1.0  # where the 1/m of dW, db goes
    MdZ = k * (MA[L] + np.abs(f64(Y)))
    dZ_abs = k * np.abs(A[L] - f64(Y))
    out = {}
    for l in range(L, 0, -1):
        out[("dZ", l)] = MdZ
        out[f"dW{l}"] = s * MdZ @ MA[l - 1].T
        out[f"db{l}"] = s * np.sum(MdZ, axis=1, keepdims=True)
        MdA = W[l - 1].T @ MdZ
        out[("dA", l - 1)] = MdA
        if l > 1:
            dA_abs = np.abs(f64(layers[l - 1].W)).T @ dZ_abs  # >= |dA[l-1]|, cheap
            MdZ = MdA * gp[l - 2] + dA_abs * _G2[hidden] * MZ[l - 2]
            if hidden in ("relu", "leaky_relu"):
                near = np.abs(Z[l - 2]) <= kink_tol * MZ[l - 2]
                MdZ = MdZ + np.where(near, dA_abs, 0.0)
            dZ_abs = dA_abs * gp[l - 2]
    return out


def _abs_g_prime(name, Z, A):
    """|g'(Z)| elementwise; for softmax a per-element bound of its Jacobian's row sum, 2 A."""
    if name == "softmax":
        return 2 * A
    if name == "sigmoid":
        return A * (1 - A)
    if name == "tanh":
        return 1 - A**2
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(Z >= 0, 1.0, 0.01)
    return np.ones_like(Z)


class Near:
    """u ≈ r for one problem: `near(key, u, r, scale)` is close(u, r, |scale| M[key], precision),
    with bound_p(M[key]) computed once per key and scaled (equal up to the last bit of the bound).

    key names the quantity ("dW2", ("dZ", 3), ...); scale multiplies M when r is a scaled reference
    (a candidate c r is as exact as r only up to |c| times r's rounding).
    """

    def __init__(self, M, precision):
        self.M, self.precision = M, precision
        self._bounds = {}  # key -> bound(M[key], precision): a diagnosis asks about each key many times

    def __call__(self, key, u, r, scale=1.0, transpose=False):
        if key not in self._bounds:
            self._bounds[key] = bound(self.M[key], self.precision)  # ||M.T|| = ||M||, ||c M|| = |c| ||M||
        u, r = np.asarray(u, np.float64), np.asarray(r, np.float64)
        if u.shape != r.shape or not np.all(np.isfinite(u)):
            return False
        return float(np.linalg.norm(u - r)) <= abs(scale) * self._bounds[key]
