"""Input validation: every public function checks its arguments here, before any tracing.

Shapes are static under jit, so shape errors are raised at trace time with Ng's names
("W[2] must be (n[2], n[1]) = (4, 3), got (3, 4)"). Value checks (NaN/Inf, labels) need
concrete arrays: they run on eager calls and are skipped for tracers inside jit.
"""

import jax
import jax.numpy as jnp
import numpy as np

PLACEMENTS = ("deferred", "absorbed", "sum")
REDUCTIONS = ("mean", "sum")
STARTS = ("dZL", "dAL")


def choice(argument, value, options):
    """Raise ValueError unless value is one of options."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def is_concrete(x):
    """True for arrays whose values are known now (not tracers inside jit/grad/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def float_array(name, x, *, ndim=2):
    """Check x is a real floating array of rank ndim; return it as a jax array."""
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype (float16/bfloat16/float32/float64), got {dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    return x


def finite(name, x):
    """Raise ValueError if a concrete x holds NaN or Inf."""
    if not is_concrete(x):
        return
    bad = ~np.isfinite(np.asarray(x, dtype=np.float64))  # NumPy: no tracing, even inside a jit trace
    if bad.any():
        n_bad = int(bad.sum())
        raise ValueError(f"{name} holds {n_bad} non-finite value(s) (NaN or Inf)")


def layer_dims_of(params, *, check_values=True):
    """Validate a tuple of Layer(W, b) and return layer_dims = (n_x, n_1, ..., n_L)."""
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise TypeError(f"params must be a non-empty tuple of Layer(W, b), got {type(params).__name__}")
    dims = []
    for l, layer in enumerate(params, start=1):
        if not (hasattr(layer, "W") and hasattr(layer, "b")):
            raise TypeError(f"params[{l - 1}] must be a Layer(W, b), got {type(layer).__name__}")
        W = float_array(f"W[{l}]", layer.W)
        n_l, n_prev = W.shape
        if l == 1:
            dims.append(n_prev)
        elif n_prev != dims[-1]:
            b_rows = layer.b.shape[0] if getattr(layer.b, "ndim", 0) >= 1 else n_l  # n[l] as b[l] says
            raise ValueError(
                f"W[{l}] must be (n[{l}], n[{l - 1}]) = ({b_rows}, {dims[-1]}), got {tuple(W.shape)}: "
                f"its columns must match the rows of W[{l - 1}]"
            )
        dims.append(n_l)
        b = layer.b
        if getattr(b, "ndim", None) != 2 or tuple(b.shape) != (n_l, 1):
            raise ValueError(f"b[{l}] must be (n[{l}], 1) = ({n_l}, 1), got {tuple(getattr(b, 'shape', ()))}")
        float_array(f"b[{l}]", b)
        if b.dtype != W.dtype:
            raise TypeError(f"b[{l}] has dtype {b.dtype} but W[{l}] has {W.dtype}; use one dtype")
        if l > 1 and W.dtype != params[0].W.dtype:
            raise TypeError(f"W[{l}] has dtype {W.dtype} but W[1] has {params[0].W.dtype}; use one dtype")
        if check_values:
            finite(f"W[{l}]", W)
            finite(f"b[{l}]", b)
    return tuple(dims)


def data(params, X, Y=None, *, output=None, check_values=True):
    """Validate X (n_x, m) and Y (n_y, m) against params; return m.

    Y may have any real dtype (0/1 integer labels are fine); X must share the params' dtype.
    """
    dims = layer_dims_of(params, check_values=check_values)
    X = float_array("X", X)
    if X.shape[0] != dims[0]:
        raise ValueError(f"X must be (n_x, m) with n_x = n[0] = {dims[0]} (the columns of W[1]), got {tuple(X.shape)}")
    m = X.shape[1]
    if m == 0:
        raise ValueError("X must hold at least one example (m >= 1), got m = 0")
    if X.dtype != params[0].W.dtype:
        raise TypeError(f"X has dtype {X.dtype} but the params have {params[0].W.dtype}; cast one of them")
    if check_values:
        finite("X", X)
    if Y is not None:
        labels(Y, n_y=dims[-1], m=m, output=output, check_values=check_values)
    return m


def labels(Y, *, n_y, m, output=None, check_values=True):
    """Validate Y (n_y, m): its shape and, when concrete, the values the output's cost needs."""
    if getattr(Y, "ndim", None) is None:
        raise TypeError(f"Y must be an array, got {type(Y).__name__}")
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (n_y, m) = ({n_y}, {m}), got shape {tuple(Y.shape)}")
    if tuple(Y.shape) != (n_y, m):
        raise ValueError(f"Y must be (n_y, m) = ({n_y}, {m}) to match AL = A[L], got {tuple(Y.shape)}")
    if not (jnp.issubdtype(Y.dtype, jnp.floating) or jnp.issubdtype(Y.dtype, jnp.integer) or Y.dtype == bool):
        raise TypeError(f"Y must be real-valued, got dtype {Y.dtype}")
    if not (check_values and is_concrete(Y)):
        return
    finite("Y", Y)
    Yf = np.asarray(Y, dtype=np.float64)
    if output == "sigmoid" and (Yf.min() < 0 or Yf.max() > 1):
        raise ValueError(f"Y must lie in [0, 1] for output='sigmoid' (binary cross-entropy), got values in [{Yf.min()}, {Yf.max()}]")
    if output == "softmax":
        if n_y < 2:
            raise ValueError(f"output='softmax' needs n_y >= 2 classes, got n_y = {n_y}")
        col_sums = Yf.sum(axis=0)
        if Yf.min() < 0 or Yf.max() > 1 or np.max(np.abs(col_sums - 1)) > 1e-3:
            bad = int(np.argmax(np.abs(col_sums - 1)))
            raise ValueError(
                "Y must be one-hot (each column a distribution over the n_y classes) for output='softmax'; "
                f"column {bad} sums to {col_sums[bad]}"
            )


def caches(params, caches_, AL, m):
    """Validate the caches forward() returned and AL against params."""
    L = len(params)
    if not isinstance(caches_, (list, tuple)) or len(caches_) != L:
        raise ValueError(f"caches must hold one Cache per layer (L = {L}), got {len(caches_) if hasattr(caches_, '__len__') else caches_!r}")
    for l, (layer, cache) in enumerate(zip(params, caches_, strict=True), start=1):
        n_l, n_prev = layer.W.shape
        if tuple(cache.A_prev.shape) != (n_prev, m) or tuple(cache.Z.shape) != (n_l, m):
            raise ValueError(
                f"caches[{l - 1}] must hold A[{l - 1}] ({n_prev}, {m}) and Z[{l}] ({n_l}, {m}), "
                f"got {tuple(cache.A_prev.shape)} and {tuple(cache.Z.shape)}"
            )
    n_L = params[-1].W.shape[0]
    if getattr(AL, "ndim", None) != 2 or tuple(AL.shape) != (n_L, m):
        raise ValueError(f"AL must be (n[L], m) = ({n_L}, {m}), got {tuple(getattr(AL, 'shape', ()))}")
