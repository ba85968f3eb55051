"""Argument checks shared by the layers, run before any array op (shapes are static under jit; values,
NaN or Inf, are checked on concrete arrays only, as in jaxbp.shapes).

Messages name the argument and give the expected shape in the course's symbols, with the
values already known filled in: "W must be (f, f, n_C_prev, n_C) = (3, 3, 4, n_C), got (3, 3, 5, 8)".
"""

import operator

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import shapes
from jaxbp.shapes import choice  # noqa: F401  (re-exported for the layer modules)


def array(name, x, spec, dims, *, dtype=None):
    """Check x is a floating array whose shape matches spec (symbols or ints); return dims updated.

    dims maps symbols already known (from other arguments) to their values. A symbol seen
    for the first time is read from x; a symbol repeated in spec ("f", "f") must repeat in x.
    dtype, when given, is the dtype x must share (the first array's), named by its source.
    """
    if isinstance(x, (list, tuple)) or np.isscalar(x) or getattr(x, "dtype", None) is None:
        raise TypeError(f"{name} must be an array of shape {_tuple_text(spec)}, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype (float16/bfloat16/float32/float64), got {x.dtype}")
    if dtype is not None and x.dtype != dtype[1]:
        raise TypeError(f"{name} has dtype {x.dtype} but {dtype[0]} has {dtype[1]}; use one dtype")
    names = _tuple_text(spec)
    if x.ndim != len(spec):
        raise ValueError(f"{name} must be {len(spec)}-D {names}, got shape {tuple(x.shape)}")
    repeated = {s for s in spec if spec.count(s) > 1}
    known, bound = dict(dims), {}
    for s, n in zip(spec, x.shape, strict=True):
        if isinstance(s, int) or s in known or s in bound:
            continue
        bound[s] = n
    value = {**bound, **known}
    want = tuple(s if isinstance(s, int) else value[s] for s in spec)
    if tuple(x.shape) != want:
        shown = [value[s] if isinstance(s, str) and (s in known or s in repeated) else s for s in spec]
        raise ValueError(f"{name} must be {names} = {_tuple_text(shown)}, got {tuple(x.shape)}")
    shapes.finite(name, x)  # concrete values only: a traced x (inside jit) is not read
    return {**known, **bound}


def _tuple_text(items):
    """Python's tuple notation without quotes: (f, f, 3, n_C), and (D,) for one item."""
    return "(" + ", ".join(map(str, items)) + ("," if len(items) == 1 else "") + ")"


def static_int(name, value, *, minimum):
    """A Python int >= minimum from a hyperparameter; a tracer (hparameters passed into jit) is refused."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a static int, got a traced value: close over hparameters "
                        f"inside jit instead of passing them as an argument")
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got the bool {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return n


def hyper(name, hparameters, keys, minimum):
    """The ints hparameters[k] for k in keys, each >= minimum[k]; hparameters must be a dict."""
    if not isinstance(hparameters, dict):
        raise TypeError(f"{name} must be a dict with keys {', '.join(map(repr, keys))}, "
                        f"got {type(hparameters).__name__}")
    missing = [k for k in keys if k not in hparameters]
    if missing:
        raise ValueError(f"{name} must have keys {', '.join(map(repr, keys))}; missing {', '.join(map(repr, missing))}")
    return tuple(static_int(f"{name}[{k!r}]", hparameters[k], minimum=minimum[k]) for k in keys)


def tuple_of(name, value, fields):
    """Check a cache is a tuple of len(fields) (the course's order) and return it."""
    if not isinstance(value, (tuple, list)) or len(value) != len(fields):
        got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) else \
            type(value).__name__
        raise TypeError(f"{name} must be the tuple ({', '.join(fields)}), got {got}")
    return tuple(value)


def params(name, parameters, spec, dims, *, dtype):
    """Check a course parameters dict key by key against spec {key: shape spec}; return dims updated.

    dtype = (source, dtype): every parameter must share the data's dtype.
    """
    if not isinstance(parameters, dict):
        raise TypeError(f"{name} must be a dict with keys {', '.join(spec)}, got {type(parameters).__name__}")
    missing = [k for k in spec if k not in parameters]
    if missing:
        raise ValueError(f"{name} is missing key(s) {', '.join(missing)}")
    for key, shape in spec.items():
        dims = array(f"{name}[{key!r}]", parameters[key], shape, dims, dtype=dtype)
    return dims
