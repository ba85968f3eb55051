"""Input validation: every public function checks its arguments here, before any tracing.

Choices, shapes and dtypes are static under jit, so they are checked at trace time too, with Ng's
names ("W[2] must be (n[2], n[1]) = (4, 3), got (3, 4)"). Values (NaN/Inf, labels, 0/1 masks, m,
keep_prob, lambd, caches against params) need concrete arrays: they are checked on eager calls, and
on constants closed over by a jit, with NumPy (no tracing, no compiling). A traced value cannot be
read while tracing, so under the caller's jit/grad/vmap its value checks are skipped, unless the
public function gets debug=True: then they are staged as checkify.check, and

    err, out = checkify.checkify(jax.jit(f), errors=checkify.user_checks)(...)
    err.throw()   # checkify.JaxRuntimeError, a ValueError, with the same message

runs them on the traced values (jax.experimental.checkify). debug=True outside checkify.checkify
fails under jit ("Cannot abstractly evaluate a checkify.check"): it is for checked runs only.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

PLACEMENTS = ("deferred", "absorbed", "sum")
REDUCTIONS = ("mean", "sum")
STARTS = ("dZL", "dAL")
LAYOUTS = ("rows", "columns")


def choice(argument, value, options):
    """Raise ValueError unless value is one of options (a typo, another case, None all fail)."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def is_concrete(x):
    """True for values known now (not tracers inside jit/grad/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def holds(test, message, *arrays, debug=False, detail=None, concrete_message=None):
    """Raise ValueError(message) unless test(xp, *arrays) is true for every element.

    Concrete arrays: tested now with xp = NumPy, on float64 copies (detail(*those) is appended to
    the message, or concrete_message(*those) replaces it). Traced arrays: checkify.check(test(jnp,
    ...)) if debug, else not tested.
    """
    if all(is_concrete(a) for a in arrays):
        with jax.ensure_compile_time_eval():  # a jax op in `test` runs now, even inside a jit trace
            values = [np.asarray(a, np.float64) for a in arrays]
            if not bool(np.all(test(np, *values))):
                if concrete_message is not None:
                    raise ValueError(concrete_message(*values))
                raise ValueError(message + (detail(*values) if detail else ""))
    elif debug:
        checkify.check(jnp.all(test(jnp, *arrays)), message.replace("{", "{{").replace("}", "}}"))


def array(name, x, *, ndim=None, kinds="f"):
    """Check x is an array (not a list or a Python number) of the given rank and dtype kinds.

    kinds: "f" floating, "fib" floating, integer or bool (labels, masks, counts).
    """
    if getattr(x, "dtype", None) is None or getattr(x, "shape", None) is None or isinstance(x, (list, tuple)):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    real = jnp.issubdtype(x.dtype, jnp.floating)
    if kinds == "fib":
        real = real or jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == bool
    if not real:
        wanted = "a floating dtype (float16/bfloat16/float32/float64)" if kinds == "f" else "a real dtype"
        raise TypeError(f"{name} must have {wanted}, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    return x


def float_array(name, x, *, ndim=2):
    """Check x is a real floating array of rank ndim; return it."""
    return array(name, x, ndim=ndim)


def same_dtype(name, x, dtype, of):
    """TypeError unless x has the dtype of `of` (mixed dtypes would promote silently)."""
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {of} {'have' if of == 'the params' else 'has'} {dtype}; "
                        "use one dtype")


def finite(name, x, *, debug=False):
    """Raise ValueError if x holds NaN or Inf."""
    holds(lambda xp, x: xp.isfinite(x), f"{name} holds non-finite value(s) (NaN or Inf)", x, debug=debug,
          concrete_message=lambda x: f"{name} holds {int((~np.isfinite(x)).sum())} non-finite value(s) (NaN or Inf)")


def scalar(name, value, *, low, high=np.inf, low_open=False, integral=False, debug=False):
    """Check a number's domain: finite, low <= value <= high (low < value if low_open), integral if asked.

    A Python int/float (never a bool) or a 0-d real array; a traced 0-d array is checked only if debug.
    """
    if isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == np.dtype(bool):
        raise ValueError(f"{name} must be a number, got the bool {value!r}")
    if integral and isinstance(value, (float, np.floating)):
        raise ValueError(f"{name} must be an int, got the float {value!r}")
    if not isinstance(value, (int, float, np.integer, np.floating)):
        if getattr(value, "dtype", None) is None:
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        array(name, value, ndim=0, kinds="fib")
    what = (f"{'an int' if integral else 'a finite number'} in {'(' if low_open else '['}{low:g}, "
            + ("inf)" if high == np.inf else f"{high:g}]"))
    holds(lambda xp, v: xp.isfinite(v) & (v > low if low_open else v >= low) & (v <= high)
          & ((v == xp.floor(v)) if integral else True),
          f"{name} must be {what}", value, debug=debug, detail=lambda v: f", got {v.item():g}")
    return value


def count(name, m, *, debug=False, at_least=None):
    """m, a number of examples: an int >= 1 (not 0, negative, fractional or bool), or a 0-d array holding one.

    at_least: the real examples given (see real_examples); a global m counts every shard's, so never fewer.
    """
    if m is None:
        return None
    scalar(name, m, low=1, integral=True, debug=debug)
    if at_least is not None and is_concrete(m) and float(m) < at_least:
        raise ValueError(f"{name} must be at least the {at_least} real examples given (it is the global number of "
                         f"examples, over every shard), got {float(m):g}")
    return m


def real_examples(m_local, mask):
    """The number of real examples: m_local, or the 1s of a concrete 0/1 mask; None if the mask is traced."""
    if mask is None:
        return m_local
    return int(np.count_nonzero(np.asarray(mask))) if is_concrete(mask) else None


def flag(name, value):
    """Raise ValueError unless value is True or False (a truthy string or None is not a flag)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def zero_one(name, x, *, debug=False):
    """Raise ValueError unless every value of x is 0 or 1."""
    holds(lambda xp, x: (x == 0) | (x == 1), f"{name} must hold only 0/1 values", x, debug=debug,
          detail=lambda x: f", got {x[(x != 0) & (x != 1)][0]:g} among them")


def mask(mask, m, *, rows=False, debug=False):
    """The padding mask: (1, m) of 0/1 in Ng's layout ((m, 1) for rows), 1 = a real example."""
    if mask is None:
        return None
    array("mask", mask, kinds="fib")
    want = (m, 1) if rows else (1, m)
    if tuple(mask.shape) != want:
        hint = ": transposed (one 0/1 per example, along the examples' axis)" if tuple(mask.shape) == want[::-1] else ""
        raise ValueError(f"mask must be {'(m, 1)' if rows else '(1, m)'} = {want}, got {tuple(mask.shape)}{hint}")
    zero_one("mask", mask, debug=debug)
    return mask


def key(key):
    """Check key is one PRNG key (jax.random.key(seed) or a legacy uint32 (2,) key); there are no default keys."""
    if key is None or getattr(key, "dtype", None) is None:
        raise TypeError(f"key must be a PRNG key (jax.random.key(seed)), got {type(key).__name__}")
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not (typed or (key.dtype == jnp.uint32 and key.shape == (2,))):
        raise TypeError(f"key must be a PRNG key (jax.random.key(seed)), got an array of {key.dtype} "
                        f"{tuple(key.shape)}")
    if typed and key.shape != ():
        raise ValueError(f"key must be one PRNG key, got a key array of shape {tuple(key.shape)}: pass one of them "
                         "(jax.vmap over them for several runs)")
    return key


def layer_dims_of(params, *, check_values=True, debug=False):
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
        same_dtype(f"b[{l}]", b, W.dtype, f"W[{l}]")
        if l > 1:
            same_dtype(f"W[{l}]", W, params[0].W.dtype, "W[1]")
        if check_values:
            finite(f"W[{l}]", W, debug=debug)
            finite(f"b[{l}]", b, debug=debug)
    return tuple(dims)


NO_LABELS = object()  # data()'s Y for functions that take no labels (forward, predict); None is a missing Y


def data(params, X, Y=NO_LABELS, *, output=None, check_values=True, debug=False, rows=False):
    """Validate X (n_x, m) and Y (n_y, m) against params (X.T, Y.T if rows); return m.

    Y may have any real dtype (0/1 integer labels are fine); X must share the params' dtype. Y is required
    (None is refused) unless it is left out (NO_LABELS), as for forward.
    """
    dims = layer_dims_of(params, check_values=check_values, debug=debug)
    X = float_array("X.T" if rows else "X", X)
    n_x, m = X.shape[::-1] if rows else X.shape
    if n_x != dims[0]:
        want = f"(m, n_x) with n_x = n[0] = {dims[0]}" if rows else f"(n_x, m) with n_x = n[0] = {dims[0]}"
        raise ValueError(f"{'X.T' if rows else 'X'} must be {want} (the columns of W[1]), got {tuple(X.shape)}")
    if m == 0:
        raise ValueError("X must hold at least one example (m >= 1), got m = 0")
    same_dtype("X", X, params[0].W.dtype, "the params")
    if check_values:
        finite("X", X, debug=debug)
    if Y is not NO_LABELS:
        labels(Y.T if rows and getattr(Y, "ndim", 0) == 2 else Y, n_y=dims[-1], m=m, output=output,
               check_values=check_values, debug=debug)
    return m


def labels(Y, *, n_y, m, output=None, check_values=True, debug=False):
    """Validate Y (n_y, m): its shape and the values the output's cost needs (0/1 for sigmoid, one-hot for softmax)."""
    array("Y", Y, kinds="fib")
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (n_y, m) = ({n_y}, {m}), got shape {tuple(Y.shape)}")
    if tuple(Y.shape) != (n_y, m):
        raise ValueError(f"Y must be (n_y, m) = ({n_y}, {m}) to match AL = A[L], got {tuple(Y.shape)}")
    if not check_values:
        return
    finite("Y", Y, debug=debug)
    if output == "sigmoid":
        holds(lambda xp, Y: (Y >= 0) & (Y <= 1), "Y must lie in [0, 1] for output='sigmoid' (binary cross-entropy)",
              Y, debug=debug, detail=lambda Y: f", got values in [{Y.min()}, {Y.max()}]")
    if output == "softmax":
        if n_y < 2:
            raise ValueError(f"output='softmax' needs n_y >= 2 classes, got n_y = {n_y}")
        holds(lambda xp, Y: (Y.min() >= 0) & (Y.max() <= 1) & (xp.max(xp.abs(Y.sum(axis=0) - 1)) <= 1e-3),
              "Y must be one-hot (each column a distribution over the n_y classes) for output='softmax'", Y,
              debug=debug, detail=lambda Y: f"; column {np.argmax(np.abs(Y.sum(0) - 1))} sums to "
                                            f"{Y.sum(0)[np.argmax(np.abs(Y.sum(0) - 1))]}")


def dropout(params, m, *, keep_prob, masks=None, key_=None, debug=False):
    """Validate keep_prob in (0, 1] and the masks D[l] (n_l, m) of 0/1 for the hidden layers l = 1..L-1."""
    scalar("keep_prob", keep_prob, low=0, high=1, low_open=True, debug=debug)
    if masks is not None and key_ is not None:
        raise ValueError("give the dropout masks or a key to draw them, not both")
    if key_ is not None:
        key(key_)
    if masks is None:
        if key_ is None and is_concrete(keep_prob) and float(keep_prob) < 1:
            raise ValueError(f"keep_prob = {float(keep_prob):g} < 1 needs dropout masks: "
                             "pass masks=(D[1], ..., D[L-1]) or key=jax.random.key(seed) to draw them")
        return
    L = len(params)
    if not isinstance(masks, (list, tuple)) or len(masks) != L - 1:
        raise ValueError(f"masks must hold one D[l] per hidden layer (L - 1 = {L - 1}), "
                         f"got {len(masks) if isinstance(masks, (list, tuple)) else type(masks).__name__}")
    for l, D in enumerate(masks, start=1):
        array(f"D[{l}]", D, kinds="fib")
        n_l = params[l - 1].W.shape[0]
        if tuple(D.shape) != (n_l, m):
            raise ValueError(f"D[{l}] must be (n[{l}], m) = ({n_l}, {m}), got {tuple(D.shape)}")
        zero_one(f"D[{l}]", D, debug=debug)
    if is_concrete(keep_prob) and float(keep_prob) == 1 and all(is_concrete(D) for D in masks) and any(
            np.any(np.asarray(D) == 0) for D in masks):
        raise ValueError("masks drop units (a D[l] holds zeros) but keep_prob = 1 keeps every unit and rescales "
                         "nothing: pass the keep_prob the masks were drawn with")


def caches(params, caches_, m, *, hidden, output=None, AL=None, keep_prob=1.0, debug=False):
    """Validate caches (and AL) against params: shapes, dtypes and, on values, that they come from a forward
    of these params with this activation and keep_prob, layer by layer:

        Z[l] = W[l] A[l-1] + b[l]               within the rounding of the product (2 (n[l-1] + 2) eps |W||A| + |b|)
        A[l] = g_hidden(Z[l]) * D[l] / keep_prob     within 8 eps (relative) of g in the caches' own dtype
        AL   = g_output(Z[L])
    """
    L = len(params)
    if not isinstance(caches_, (list, tuple)) or len(caches_) != L:
        got = len(caches_) if isinstance(caches_, (list, tuple)) else type(caches_).__name__
        raise ValueError(f"caches must hold one Cache per layer (L = {L}), got {got}")
    dtype = params[0].W.dtype
    with_masks = [getattr(c, "D", None) is not None for c in caches_[:-1]]
    if any(with_masks) and not all(with_masks):
        layers = [l + 1 for l, w in enumerate(with_masks) if w]
        raise ValueError(f"caches must all hold a dropout mask D or none; layers {layers} do")
    if getattr(caches_[-1], "D", None) is not None:
        raise ValueError(f"caches[{L - 1}].D must be None: the output layer has no dropout")
    for l, (layer, cache) in enumerate(zip(params, caches_, strict=True), start=1):
        if not (hasattr(cache, "A_prev") and hasattr(cache, "Z")):
            raise TypeError(f"caches[{l - 1}] must be a Cache(A_prev, Z, D), got {type(cache).__name__}")
        n_l, n_prev = layer.W.shape
        array(f"caches[{l - 1}].A_prev", cache.A_prev, ndim=2)
        array(f"caches[{l - 1}].Z", cache.Z, ndim=2)
        if tuple(cache.A_prev.shape) != (n_prev, m) or tuple(cache.Z.shape) != (n_l, m):
            raise ValueError(
                f"caches[{l - 1}] must hold A[{l - 1}] ({n_prev}, {m}) and Z[{l}] ({n_l}, {m}), "
                f"got {tuple(cache.A_prev.shape)} and {tuple(cache.Z.shape)}"
            )
        same_dtype(f"caches[{l - 1}].A_prev", cache.A_prev, dtype, "the params")
        same_dtype(f"caches[{l - 1}].Z", cache.Z, dtype, "the params")
        if getattr(cache, "D", None) is not None:
            array(f"caches[{l - 1}].D", cache.D, kinds="fib")
            if tuple(cache.D.shape) != (n_l, m):
                raise ValueError(f"caches[{l - 1}].D must be D[{l}] (n[{l}], m) = ({n_l}, {m}), "
                                 f"got {tuple(cache.D.shape)}")
    if AL is not None:
        n_L = params[-1].W.shape[0]
        if getattr(AL, "ndim", None) != 2 or tuple(AL.shape) != (n_L, m):
            raise ValueError(f"AL must be (n[L], m) = ({n_L}, {m}), got {tuple(getattr(AL, 'shape', ()))}")
        array("AL", AL)
        same_dtype("AL", AL, dtype, "the params")
    if not any(with_masks) and is_concrete(keep_prob) and float(keep_prob) != 1:
        raise ValueError(f"keep_prob = {float(keep_prob):g} but the caches hold no dropout masks D: "
                         "pass the keep_prob the forward used (1.0 without dropout)")
    _consistent(params, caches_, hidden=hidden, output=output, AL=AL, keep_prob=keep_prob, debug=debug)


def _consistent(params, caches_, *, hidden, output, AL, keep_prob, debug):
    from jaxbp import activations  # a late import: activations is above this module in the layout

    leaves = [x for c in caches_ for x in (c.A_prev, c.Z, getattr(c, "D", None)) if x is not None] + [AL, keep_prob]
    if not (debug or all(is_concrete(x) for x in leaves if x is not None)):
        return  # values unknown while tracing: checked by debug=True under checkify
    eps, tiny = float(jnp.finfo(params[0].W.dtype).eps), float(jnp.finfo(params[0].W.dtype).smallest_normal)
    for l, (layer, cache) in enumerate(zip(params, caches_, strict=True), start=1):
        finite(f"caches[{l - 1}].Z (Z[{l}])", cache.Z, debug=debug)
        if getattr(cache, "D", None) is not None:
            zero_one(f"caches[{l - 1}].D", cache.D, debug=debug)
        c = 2 * (layer.W.shape[1] + 2) * eps
        holds(lambda xp, W, b, A, Z, c=c: xp.abs(Z - (W @ A + b)) <= c * (xp.abs(W) @ xp.abs(A) + xp.abs(b) + tiny),
              f"caches[{l - 1}].Z is not Z[{l}] = W[{l}] A[{l - 1}] + b[{l}] for these params: "
              "the caches come from other params or another X", layer.W, layer.b, cache.A_prev, cache.Z, debug=debug)
    pairs = [(f"caches[{l}].A_prev (A[{l}])", caches_[l].A_prev, caches_[l - 1], hidden, "hidden")
             for l in range(1, len(params))]
    if AL is not None and output is not None:
        pairs.append(("AL", AL, caches_[-1], output, "output"))
    for name, A, cache, activation, role in pairs:
        D = getattr(cache, "D", None)
        with jax.ensure_compile_time_eval():  # g(Z) in the caches' own dtype, now if Z is concrete
            arrays = (A, activations.g(activation)(cache.Z))
            arrays += () if D is None else (D, jnp.asarray(keep_prob, cache.Z.dtype))
        what = f"g(Z) for {role}={activation!r}" + ("" if D is None else " times D / keep_prob")
        holds(lambda xp, A, gZ, D=None, kp=None: xp.abs(A - (gZ if D is None else gZ * D / kp))
              <= 8 * eps * xp.abs(A) + tiny,
              f"{name} is not {what}: the caches come from a forward with another {role} activation"
              + ("" if D is None else " or keep_prob"), *arrays, debug=debug)
