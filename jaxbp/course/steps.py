"""The course's one-layer backward functions against jax.grad on one random layer.

    linear_backward(dZ, cache) -> (dA_prev, dW, db)                 cache = (A_prev, W, b)
    linear_activation_backward(dA, cache, activation) -> (...)       cache = ((A_prev, W, b), Z); both activations
    relu_backward(dA, cache), sigmoid_backward(dA, cache) -> dZ      cache = Z
A_prev's first column and b[0] are 0, so Z[0, 0] == 0 exactly and relu's kink is part of the check.
Judged by compare's bound GROWTH u_p ||M|| (p the least precise dtype in or out), with the magnitudes
    M_Z = |W| |A_prev| + |b|,  M_dZ = |dA| |g'(Z)| + |dA| G2 M_Z,  M_dW = M_dZ |A_prev|.T / m,
    M_db = Σ_i M_dZ / m,  M_dA_prev = |W|.T M_dZ           (G2 bounds |g''|, as in compare.magnitudes)
A wrong output is matched against another g', g' at A, and relu'(0) = 1.
"""

import numpy as np

from jaxbp.checking import compare, diagnose, reference
from jaxbp.checking.diagnose import Row
from jaxbp.course import assignments
from jaxbp.course.assignments import NETS
from jaxbp.course.problems import UsageError, precision, report


def check_step(a, fn, *, dims, m, seed, dtype, context, **_):
    """linear_backward, linear_activation_backward, relu_backward, sigmoid_backward on one random layer."""
    if dims is not None and len(dims) != 2:
        raise UsageError(f"{a.name} checks one layer: dims must be (n_prev, n_l), got {tuple(dims)}")
    n_prev, n_l = tuple(dims or NETS["step"].dims)
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
        near = compare.Near(_magnitudes(act, dA, A_prev, W, b, Z),
                            precision([dA, A_prev, W, b, *(x for x in outs if hasattr(x, "dtype"))]))
        for n, u in zip(names, outs, strict=True):
            rows.append(_step_row(n + suffix, n, u, ref, act, (dA, A_prev, W, Z), near, m))
    dtype_rows = [dA, A_prev, W]
    return report(rows, None, notes, (*context, *(f"called: {c}" for c in called)), dtype_rows,
                   layer_dims=(n_prev, n_l), hidden="relu" if a.name != "sigmoid_backward" else "sigmoid")


def _magnitudes(act, dA, A_prev, W, b, Z):
    """{"dZ", "dW", "db", "dA_prev": M} of one layer's backward (module docstring)."""
    dA, A_prev, W, b, Z = (np.abs(np.asarray(x, np.float64)) for x in (dA, A_prev, W, b, Z))
    m = A_prev.shape[1]
    MdZ = dA * np.abs(reference.NP_G_PRIME[act](np.asarray(Z))) + dA * compare._G2.get(act, 0.0) * (W @ A_prev + b)
    return {"dZ": MdZ, "dW": MdZ @ A_prev.T / m, "db": np.sum(MdZ, axis=1, keepdims=True) / m, "dA_prev": W.T @ MdZ}


def _step_row(name, key, u, ref, act, inputs, near, m):
    """One output of a one-layer backward against jax.grad's, with the wrong-g' candidates."""
    r = ref[key]
    if u is None or not hasattr(u, "shape"):
        return Row(name, 1, float("nan"), "shape", None, f"{name} must be an array of shape {r.shape}, got "
                   f"{type(u).__name__}")
    u = np.asarray(u, dtype=np.float64)
    if u.shape != r.shape and key in ("dA_prev", "dZ"):
        return Row(name, 1, float("nan"), "shape", None, f"{name} must be {r.shape} (the shape of "
                   f"{'A_prev' if key == 'dA_prev' else 'Z'}), got {u.shape}")
    kind, e, factor, message = diagnose.first_pass(key, 1, u, r, m=m, near=near, placement="deferred")
    ratio = compare.judge(u, r, near.M[key], (near.precision,))[1] if u.shape == r.shape else None
    message = message.replace(key, name, 1) if message.startswith(key) else message
    if kind is not None:
        return Row(name, 1, e, kind, factor, message, bound_ratio=ratio)
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
        if near(key, u, value):
            return Row(name, 1, e, "wrong-activation-derivative", None, f"{name}: {text}", bound_ratio=ratio)
    if factor is not None:
        return Row(name, 1, e, "scale", factor, message, bound_ratio=ratio)
    return Row(name, 1, e, "unexplained", None, f"{name}: rel error {e:.2g}, no recognised mistake fits",
               bound_ratio=ratio)

