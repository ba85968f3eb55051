"""The boundary with the course's code: dicts keyed "W1", "b1", "dW1", "db1", "dA0".

Inside jaxbp parameters and gradients are tuples of Layer(W, b); course-style dicts exist
only here, where a learner hands in (or asks for) the course's format. Arrays pass through
unchanged (NumPy stays NumPy), so a NumPy backprop can be fed and read back.
"""

import re

from jaxbp.model import Cache, Layer


def to_course(params):
    """{"W1": W[1], "b1": b[1], ..., "WL": W[L], "bL": b[L]} from a tuple of Layer."""
    out = {}
    for l, layer in enumerate(params, start=1):
        out[f"W{l}"], out[f"b{l}"] = layer.W, layer.b
    return out


def _numbered(d, prefix):
    """The layer numbers l for which d has the key prefix + str(l)."""
    pattern = re.compile(rf"^{prefix}(\d+)$")
    return sorted(int(mt.group(1)) for key in d if (mt := pattern.match(str(key))))


def from_course(parameters):
    """A tuple of Layer from the course's {"W1": ..., "b1": ..., ...}."""
    if not isinstance(parameters, dict):
        raise TypeError(f"parameters must be a dict with keys 'W1', 'b1', ..., got {type(parameters).__name__}")
    L = len(_numbered(parameters, "W"))
    missing = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}") if k not in parameters]
    if L == 0 or missing:
        raise ValueError(f"parameters must have keys W1, b1, ..., WL, bL; missing {missing or ['W1', 'b1']}")
    return tuple(Layer(W=parameters[f"W{l}"], b=parameters[f"b{l}"]) for l in range(1, L + 1))


def grads_to_course(grads, steps=None):
    """{"dW1", "db1", ..., and with steps "dA0", ..., "dA{L-1}"} as the course's L_model_backward returns."""
    out = {}
    for l, layer in enumerate(grads, start=1):
        out[f"dW{l}"], out[f"db{l}"] = layer.W, layer.b
    for l, step in enumerate(steps or (), start=1):
        out[f"dA{l - 1}"] = step.dA_prev
    return out


def grads_from_course(grads, L):
    """(tuple of Layer(dW, db), {l-1: dA[l-1]} for the dA keys present) from a course grads dict.

    Raises KeyError naming the first missing "dW{l}"/"db{l}".
    """
    missing = [k for l in range(1, L + 1) for k in (f"dW{l}", f"db{l}") if k not in grads]
    if missing:
        raise KeyError(f"grads is missing {', '.join(missing)} (it must have dW1, db1, ..., dW{L}, db{L})")
    layers = tuple(Layer(W=grads[f"dW{l}"], b=grads[f"db{l}"]) for l in range(1, L + 1))
    dA = {l: grads[f"dA{l}"] for l in range(L) if f"dA{l}" in grads}
    return layers, dA


def to_course_caches(params, caches):
    """The course's caches: [((A_prev, W, b), Z) for each layer], from jaxbp's Cache tuple."""
    return [((c.A_prev, p.W, p.b), c.Z) for p, c in zip(params, caches, strict=True)]


def from_course_caches(course_caches):
    """jaxbp's (params, caches) from the course's [((A_prev, W, b), Z), ...]."""
    params = tuple(Layer(W=W, b=b) for (_, W, b), _ in course_caches)
    caches = tuple(Cache(A_prev=A_prev, Z=Z) for (A_prev, _, _), Z in course_caches)
    return params, caches


def dA_convention(grads, layer_dims):
    """("new" or "old", the layer numbers k of the "dA{k}" keys present) for a course grads dict, or (None, []).

        new (2020 on)     grads["dA" + str(l)]     = dA[l],  keys dA0 ... dA{L-1}
        old (2017-2019)   grads["dA" + str(l + 1)] = dA[l],  keys dA1 ... dAL
    dA0 present means new, dAL present means old; with neither (the hand-unrolled C2W1 networks store dA1,
    dA2 for L = 3), the shapes decide: dA[l] is (n_l, m); new when they fit both ways.
    """
    L = len(layer_dims) - 1
    ks = _numbered(grads, "dA")
    if not ks:
        return None, []
    if 0 in ks or L not in ks and not _dA_shapes_fit(grads, ks, layer_dims, shift=1):
        return "new", ks
    if L in ks or not _dA_shapes_fit(grads, ks, layer_dims, shift=0):
        return "old", ks
    return "new", ks


def _dA_shapes_fit(grads, ks, layer_dims, shift):
    """Whether every grads["dA{k}"] has the n[k - shift] rows that dA[k - shift] has (unknown dims fit)."""
    rows = lambda a: getattr(a, "shape", (None,))[0] if getattr(a, "ndim", 0) else None  # noqa: E731
    return all(0 <= k - shift < len(layer_dims) and layer_dims[k - shift] in (None, rows(grads[f"dA{k}"]))
               for k in ks)


def dA_keys(grads, layer_dims):
    """[(l, key)]: the key of grads that holds dA[l], for l = 0..L-1, in the dict's own convention."""
    convention, ks = dA_convention(grads, layer_dims)
    shift = 1 if convention == "old" else 0
    L = len(layer_dims) - 1
    return [(k - shift, f"dA{k}") for k in ks if 0 <= k - shift < L]


def dA_note(grads, layer_dims):
    """The sentence a report prints about which dA keys it read, or None without dA keys."""
    convention, ks = dA_convention(grads, layer_dims)
    if convention is None:
        return None
    keys = ", ".join(f"dA{k}" for k in ks)
    if convention == "old":
        return (f"{keys} read as dA[l] under \"dA\" + str(l + 1) (the 2017-2019 notebooks' keys: dA{ks[0]} "
                f"holds dA[{ks[0] - 1}])")
    return f"{keys} read as dA[l] under \"dA\" + str(l) (the newer notebooks' keys: dA{ks[0]} holds dA[{ks[0]}])"
