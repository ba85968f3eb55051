"""A generated sweep of bad and edge-case calls over every exported function of jaxbp: the after-count.

    python tools/bad_calls.py > tools/bad_calls.out

Independent of tests/test_catalogue.py: for every public function (jaxbp.__all__ with its lazily loaded
train and parallel functions, jaxbp.layers.*, jaxbp.check, jaxbp.check_layer) one valid call on a tiny
float64 problem is run and must succeed; then each argument in turn is replaced by values from the
bad-input classes below, all other arguments staying valid, and every call is classified.
Measured on the sweep branch: before its fixes (commit f301500) 823 clear, 127 correct, 33 unclear,
105 silent of 1088 calls; the output after them is tools/bad_calls.out. What remains is listed there,
one line per call.

Outcome (decided by these rules only, mechanically)
    clear      raised ValueError or TypeError (jaxbp's BackwardFnError, LearnerError, UsageError are
               subclasses), raised by jaxbp's own code (the innermost traceback frame is in the jaxbp
               package, not in jax, numpy or Python), with a message naming the argument: one of the
               case's names (the parameter's name, or for a field W[2] / b[1] / caches[1] / Y /
               parameters['Wax'] ...) as a whole word; a name of one or two characters (m, X, Y, W, b,
               x, da) must stand as a subject: followed by "[", ".", "'s", " must", " has", " holds",
               " is", " =", " needs", " exceeds" or " (" (its shape). A shape that disagrees with
               another argument's (X with Y's m, A_prev with W's columns) may be reported against
               either: those cases list the partner's name too.
    unclear    any other exception: another type (KeyError, AttributeError, IndexError, jaxbp's
               LayerCodeError), a ValueError/TypeError whose message names none of the case's names,
               or one raised inside jax/numpy/Python (an XLA, JAX-internal or NumPy message).
    correct    accepted (no exception) where the input was marked legitimate up front ("accept", or
               "either": a clear rejection or a correct result both acceptable), and the result passes
               that case's check: finite, and equal, leaf by leaf (||out - ref|| <= rtol ||ref||), to the
               valid call's result or an independent reference: NumPy formulas, jax.grad of a cost
               written here, jax.vjp of the layer's forward, the SGD/momentum updates written out.
               rtol is 1e-12 in float64 (1e-10 where sums are reordered or 1e30 is involved), 1e-5 for
               float32 inputs, 2e-2 to 5e-2 for float16 ones.
    silent     accepted where the input is nonsense ("reject"), or a legitimate input whose result is
               NaN/Inf or differs from what the documented meaning requires.
Each case states up front whether its input is legitimate (the classes below); nothing is decided
after seeing the result. A legitimate input that is rejected clearly counts as clear and is also
listed under "over-strict" for review.

Bad-input classes (reject unless marked legitimate)
    choice     a typo, another case, None (unless None is a documented value), a non-string 1, bytes
    numbers    0 / negative where >= 1 or > 0 is meant, fractional where an int is meant (2.5, and 5.0:
               jaxbp asks for an int), NaN, Inf, complex, bool, a string, a 1-element array, an
               out-of-range value (betas 1.0 and 1.5, keep_prob 0 and 1.5, epsilon <= 0, a global m
               below the examples given); legitimate: a NumPy scalar or a 0-d array of an in-range
               value, an int where a float is meant, a larger global m, and huge in-range values
               (m = 10**12, learning_rate = 1e30, lambd = 1e6) whose result must equal the formula
    flags      a non-bool ("yes") for True/False arguments
    arrays     transposed, 1-D, an extra leading axis, the wrong m, the wrong rows, an integer or
               complex dtype, float16 or float32 mixed with float64 arrays, a NaN, an Inf, None, a
               Python float; legitimate: the same values as a NumPy (or, for the layers, jax) array,
               float32/float16 where no other array fixes the dtype, any m where nothing else fixes it
               (forward, predict, linear_forward), any shape for zero_pad and pool_forward;
               "either": a nested list; labels Y may be integer, bool, float32 or float16 0/1
               (legitimate), 2 Y - 1/2 (outside [0, 1]) is not
    masks      a 2, a -1, a 0.5, transposed, 1-D, the wrong length, complex, a NaN; legitimate: bool
               and int ones, one padded column; dropout masks D given with keep_prob 1.0 (they would
               drop units without rescaling) are rejected
    networks   params as a course dict, empty, one Layer, reversed, another n_x, with a field
               transposed, 1-D, of another dtype, NaN; caches of another depth, another hidden
               activation, another X (with this X's AL), with dropout masks when keep_prob = 1; AL of
               another forward; a layer's cache from another layer kind, too short, with a field of
               the wrong shape; hparameters / bn_param / ln_param / parameters dicts with a key
               missing, a value out of range, of the wrong type; legitimate: a list of Layers, NumPy
               arrays, the course's list of cell caches, an extra key where the course ignores it
    float16    everything float16 where float16 is supported (legitimate, within 2e-2 to 3e-2)
"""

import inspect
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

T0 = time.perf_counter()
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
                      "--xla_cpu_use_fusion_emitters=false")  # the suite's quick settings (tests/conftest.py)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_num_cpu_devices", 4)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxbp  # noqa: E402
from jaxbp import layers as nn  # noqa: E402
from jaxbp.model import Cache, Layer  # noqa: E402

PACKAGE = os.path.dirname(os.path.abspath(jaxbp.__file__))
NAN, INF = float("nan"), float("inf")


# ----------------------------------------------------------------------------------------------------- cases

@dataclass
class Case:
    fn: str
    arg: str
    klass: str
    value: str
    call: Callable[[], Any]
    names: tuple
    expect: str  # "reject" | "accept" | "either"
    check: Callable[[Any], tuple] | None  # out -> (ok, why), for accept / either


CASES: list[Case] = []
VALID: dict[str, str] = {}  # function -> error of its valid call, if any
SUBJECT = r"(\[|\.|'s|\s+(must|has|holds|is|=|needs|exceeds|\())"


class Spec:
    """One function and its valid call: args by name, pos the positional ones (in order)."""

    def __init__(self, name, function, pos, **args):
        self.name, self.fn, self.pos, self.args = name, function, tuple(pos), args

    def thunk(self, over):
        args = {**self.args, **over}
        pos = [args.pop(p) for p in self.pos]
        return lambda: self.fn(*pos, **args)

    def add(self, arg, klass, value, expect="reject", check=None, names=None, label=None, **also):
        """Case: arg replaced by value (also: other arguments changed with it)."""
        assert (check is None) == (expect == "reject"), (self.name, arg, klass)
        names = tuple(names or (arg,))
        label = label or short(value)
        if also:
            label += " with " + ", ".join(f"{k}={short(v)}" for k, v in also.items())
        CASES.append(Case(self.name, arg, klass, label, self.thunk({arg: value, **also}), names, expect, check))

    def valid(self, check=None):
        """Run the valid call now; record an error if it fails or fails check; return its result."""
        try:
            out = block(self.thunk({})())
        except Exception as err:  # noqa: BLE001
            VALID[self.name] = f"valid call raised {type(err).__name__}: {first_line(err)}"
            return None
        ok, why = (check or finite)(out)
        if not ok:
            VALID[self.name] = f"valid call wrong: {why}"
        return out


def short(v):
    """A one-line description of an argument's value."""
    if isinstance(v, (jax.Array, np.ndarray)):
        kind = "np" if isinstance(v, np.ndarray) else "jnp"
        return f"{kind} {v.dtype} {tuple(v.shape)}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (Layer, Cache)) for x in v):
        return f"{type(v).__name__} of {len(v)} {type(v[0]).__name__}s"
    if isinstance(v, (list, tuple)) and not isinstance(v, (Layer, Cache)) and (len(v) > 3 or any(
            hasattr(x, "shape") for x in v)):
        return f"{type(v).__name__} of {len(v)}" + (f" {short(v[0])}" if len(v) == 1 else "")
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {short(x)}" for k, x in v.items()) + "}"
    text = repr(v) if not callable(v) else getattr(v, "__name__", "function")
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def first_line(err):
    text = str(err).strip().splitlines()
    return (text[0] if text else "")[:200]


def block(out):
    def ready(x):
        if isinstance(x, jax.Array):
            x.block_until_ready()
        return x
    try:
        return jax.tree.map(ready, out)
    except Exception:  # noqa: BLE001  (a Report or a function)
        return out


# --------------------------------------------------------------------------------------------- result checks

def leaves(out):
    return [np.asarray(x) for x in jax.tree.leaves(out) if hasattr(x, "dtype") or isinstance(x, (int, float))]


def finite(out):
    bad = [x.shape for x in leaves(out) if np.issubdtype(x.dtype, np.inexact) and not np.all(np.isfinite(x))]
    return (not bad), ("finite" if not bad else f"non-finite result (leaf shapes {bad})")


def close(out, ref, rtol=1e-12):
    """out equals ref leaf by leaf: same count and shapes, ||o - r|| <= rtol ||r|| (+ tiny), all finite."""
    ok, why = finite(out)
    if not ok:
        return ok, why
    a, b = leaves(out), leaves(ref)
    if len(a) != len(b):
        return False, f"{len(a)} result arrays, expected {len(b)}"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape:
            return False, f"result array {i} has shape {x.shape}, expected {y.shape}"
        x64, y64 = x.astype(np.float64) if x.dtype != bool else x, y.astype(np.float64) if y.dtype != bool else y
        err, size = np.linalg.norm(np.ravel(x64 - y64)), np.linalg.norm(np.ravel(y64))
        if not err <= rtol * size + 1e-300 + rtol * 1e-3:
            return False, f"result array {i} differs: rel error {err / max(size, 1e-300):.3g} > {rtol:g}"
    return True, "equal to the reference"


def same(ref, rtol=1e-12):
    return lambda out: close(out, ref, rtol)


def report_ok(out):
    ok = getattr(out, "ok", None)
    return (ok is True), f"report.ok = {ok}"


# ------------------------------------------------------------------------------------------- input classes

def typo(s):
    return s[:-1] if len(s) > 3 else s + "x"


def recase(s):
    return s.upper() if s.upper() != s else s.capitalize() if s.capitalize() != s else s.lower()


def choices(spec, arg, short=False, none_ok=False, **also):
    """A typo, another case (not if short="typo"), None (unless a documented value), and unless short: a
    non-string 1 and bytes."""
    given = {**spec.args, **also}
    good = given[arg] if arg in given else inspect.signature(spec.fn).parameters[arg].default
    values = [("typo", typo(good))]
    if short == "typo":
        values += [("non-string", 1)] if none_ok else [("None", None)]
    else:
        values += [("wrong case", recase(good))] + ([("non-string", 1)] if none_ok else [("None", None)])
    if not short:
        values += [("bytes", good.encode())] + ([] if none_ok else [("non-string", 1)])
    for klass, value in values:
        spec.add(arg, "choice: " + klass, value, **also)


def flag(spec, arg, **also):
    spec.add(arg, "flag: non-bool", "yes", **also)


ALONE_RTOL = {jnp.float32: 1e-5, jnp.float16: 5e-2}


def arrays(spec, arg, x, ref, *, short=False, names=None, partners=(), labels=False, free_m=False, alone=False,
           numpy_ok=True, **also):
    """The array classes for a 2-D array argument x whose valid result is ref.

    short: False (15 classes), True (8) or "tiny" (4: transposed, an integer/out-of-range dtype or labels,
    NaN, None). partners: the arguments whose shapes x must agree with (a mismatch may be reported
    against them); free_m: any m is legitimate (forward has no Y), so no "wrong m" case; alone: no other
    float array fixes the dtype, so float32 and float16 are legitimate (within ALONE_RTOL of the valid result).
    """
    names = tuple(names or (arg,))
    add = lambda klass, value, *a, n=names, **k: spec.add(arg, klass, value, *a, names=n, **k, **also)  # noqa: E731
    shape_names = names + tuple(partners)
    tiny = short == "tiny"
    x = jnp.asarray(x)
    if x.ndim >= 2 and x.shape[0] != x.shape[-1]:
        add("array: transposed", x.T, n=shape_names)
    if labels:
        add("labels: outside [0, 1]", 2 * x - 0.5)
    else:
        add("dtype: int32", x.astype(jnp.int32))
    add("values: NaN", x.at[(0,) * x.ndim].set(NAN))
    add("array: None", None)
    if tiny:
        return
    add("array: 1-D", x.reshape(-1) if x.ndim == 2 else x[0])
    if not free_m and x.ndim >= 2 and x.shape[-1] > 1:
        add("array: wrong m", x[..., :-1], n=shape_names)
    if labels:
        for dtype in (jnp.int32, jnp.bool_) + (() if short else (jnp.float32, jnp.float16)):
            add(f"labels: {jnp.dtype(dtype).name} 0/1", x.astype(dtype), "accept", same(ref))
    else:
        for dtype in (jnp.float32,) + (() if short else (jnp.float16,)):
            if alone:
                add(f"dtype: {jnp.dtype(dtype).name} alone", x.astype(dtype), "accept", same(ref, ALONE_RTOL[dtype]))
            else:
                add(f"dtype: {jnp.dtype(dtype).name} mixed", x.astype(dtype))
    if numpy_ok:
        add("array: NumPy", np.asarray(x), "accept", same(ref))
    if short:
        return
    add("array: extra axis", x[None])
    if x.ndim >= 2 and x.shape[0] > 1:
        add("array: wrong rows", x[:-1], n=shape_names)
    add("dtype: complex", x.astype(jnp.complex128))
    add("values: Inf", x.at[(0,) * x.ndim].set(INF))
    add("array: Python float", 1.0)
    add("array: nested list", np.asarray(x).tolist(), "either", same(ref))


M_BAD = [("zero", 0), ("negative", -1), ("fractional", 2.5), ("float", 5.0), ("NaN", NAN), ("Inf", INF),
         ("complex", 5 + 0j), ("bool", True), ("string", "5"), ("1-element array", jnp.array([5]))]


def counts_m(spec, arg="m", *, ref, scale, m_local=5, short=False, **also):
    """m: the bad numbers; legitimate NumPy int, 0-d array, a larger global m and a huge one (scale(ref, m_local/m))."""
    bad = M_BAD if not short else [M_BAD[i] for i in (0, 2, 4, 7, 8)]
    for klass, value in bad:
        spec.add(arg, "number: " + klass, value, **also)
    spec.add(arg, "number: below the examples given", m_local - 2, **also)
    spec.add(arg, "number: larger global m", 2 * m_local, "accept", same(scale(ref, 0.5)), **also)
    if not short:
        spec.add(arg, "number: NumPy int", np.int64(m_local), "accept", same(ref), **also)
        spec.add(arg, "number: 0-d int array", jnp.array(m_local), "accept", same(ref), **also)
        spec.add(arg, "number: huge", 10**12, "accept", same(scale(ref, m_local / 1e12)), **also)


def real(spec, arg, bad, legit=(), **also):
    """bad: [(klass, value)]; legit: [(klass, value, check)]."""
    for klass, value in bad:
        spec.add(arg, "number: " + klass, value, **also)
    for klass, value, check in legit:
        spec.add(arg, "number: " + klass, value, "accept", check, **also)


LAMBD_BAD = [("negative", -1.0), ("NaN", NAN), ("Inf", INF), ("bool", True), ("string", "0.1"), ("complex", 0.1j),
             ("1-element array", jnp.array([0.1]))]
KEEP_BAD = [("zero", 0.0), ("above 1", 1.5), ("negative", -0.2), ("NaN", NAN), ("bool", True), ("string", "0.5"),
            ("complex", 0.5 + 0j)]


def tree_scale(tree, s):
    return jax.tree.map(lambda x: x * s, tree)


# ---------------------------------------------------------------------------------------------- the problem

rng = np.random.default_rng(0)
f = lambda *shape: jnp.asarray(rng.normal(size=shape))  # noqa: E731
params = (Layer(f(3, 4), f(3, 1)), Layer(f(2, 3), f(2, 1)))
X, Y = f(4, 5), jnp.asarray((rng.random((2, 5)) < 0.5).astype(np.float64))
Y = Y.at[:, 0].set(jnp.array([1.0, 0.0]))
AL, caches = jaxbp.forward(params, X, hidden="tanh")
D = (jnp.asarray([[1.0, 0, 1, 1, 0], [1, 1, 0, 1, 1], [0, 1, 1, 1, 1]]),)
AL_drop, caches_drop = jaxbp.forward(params, X, hidden="tanh", keep_prob=0.5, masks=D)
KEY = jax.random.key(0)
params3 = (Layer(f(3, 4), f(3, 1)), Layer(f(3, 3), f(3, 1)), Layer(f(2, 3), f(2, 1)))
_, caches3 = jaxbp.forward(params3, X, hidden="tanh")
AL_relu, caches_relu = jaxbp.forward(params, X, hidden="relu")
AL_X2, caches_X2 = jaxbp.forward(params, X + 1, hidden="tanh")
params_nx5 = (Layer(f(3, 5), f(3, 1)), params[1])
as_np = tuple(Layer(np.asarray(p.W), np.asarray(p.b)) for p in params)
params16 = jax.tree.map(lambda a: a.astype(jnp.float16), params)
params32 = jax.tree.map(lambda a: a.astype(jnp.float32), params)
X16, Y16, X32, Y32 = X.astype(jnp.float16), Y.astype(jnp.float16), X.astype(jnp.float32), Y.astype(jnp.float32)
course_params = {f"{q}{l}": getattr(p, q) for l, p in enumerate(params, start=1) for q in "Wb"}


def swap(tree, l, **fields):
    """params or caches with entry l (1-based) having fields replaced."""
    return tuple(p._replace(**fields) if i == l else p for i, p in enumerate(tree, start=1))


def bad_params(spec, *, short=True, ref=None, f16=None, partners=(), **also):
    """The network classes for params: 4 (short) or 17; ref: the valid result (for a list of Layers);
    f16: (the other arguments made float16 too, the check)."""
    def add(klass, value, *a, names=("params",), **k):
        spec.add("params", klass, value, *a, names=names, **k, **also)
    add("network: course dict", course_params)
    add("field: W[2] transposed", swap(params, 2, W=params[1].W.T), names=("W[2]",))
    add("field: W[1] NaN", swap(params, 1, W=params[0].W.at[0, 0].set(NAN)), names=("W[1]",))
    add("network: another n_x", params_nx5, names=("X", "W[1]") + tuple(partners))
    if not short:
        add("network: None", None)
        add("field: b[1] 1-D", swap(params, 1, b=params[0].b[:, 0]), names=("b[1]",))
        add("field: W[2], b[2] float32 (mixed)", swap(params, 2, W=params[1].W.astype(jnp.float32),
                                                      b=params[1].b.astype(jnp.float32)), names=("W[2]",))
        add("network: empty", ())
        add("network: one Layer", params[0], names=("params", "params[0]"))
        add("field: b[1] transposed", swap(params, 1, b=params[0].b.T), names=("b[1]",))
        add("field: W[1] int32", swap(params, 1, W=params[0].W.astype(jnp.int32)), names=("W[1]",))
        add("field: b[2] float16 (mixed)", swap(params, 2, b=params[1].b.astype(jnp.float16)), names=("b[2]",))
        add("field: W[1] complex", swap(params, 1, W=params[0].W.astype(jnp.complex128)), names=("W[1]",))
        add("field: b[2] Inf", swap(params, 2, b=params[1].b.at[0, 0].set(INF)), names=("b[2]",))
        add("field: W[1] nested list", swap(params, 1, W=np.asarray(params[0].W).tolist()), names=("W[1]",))
        add("network: reversed", params[::-1], names=("W[1]", "W[2]", "X"))
        add("network: NumPy arrays", as_np, "accept", same(ref))
        add("network: list of Layers", list(params), "accept", same(ref))
    if f16 is not None:
        add("float16: throughout", params16, "accept", f16[1], **f16[0])


# ============================================================================================== the core

# --- forward -------------------------------------------------------------------------------------------------
s = Spec("forward", jaxbp.forward, ("params", "X"), params=params, X=X, hidden="tanh")
ref = s.valid()
drop = (AL_drop, caches_drop)
bad_params(s, short=False, ref=ref, f16=({"X": X16}, same(ref, 2e-2)))
arrays(s, "X", X, ref, short=True, free_m=True)
s.add("X", "array: m = 0", X[:, :0])
s.add("X", "dtype: complex", X.astype(jnp.complex128))
s.add("X", "values: Inf", X.at[0, 1].set(INF))
s.add("X", "array: nested list", np.asarray(X).tolist(), "either", same(ref))
choices(s, "hidden")
choices(s, "output")
real(s, "keep_prob", KEEP_BAD[:6], masks=D)
s.add("keep_prob", "number: int 1", 1, "accept", same(ref))
s.add("keep_prob", "number: NumPy float", np.float64(0.5), "accept", same(drop), masks=D)
for klass, value in [("values 2", (2 * D[0],)), ("transposed", (D[0].T,)), ("one too many", D * 2),
                     ("bare array", D[0]), ("None with keep_prob < 1", None)]:
    s.add("masks", "mask: " + klass, value, keep_prob=0.5, names=("masks", "D[1]", "keep_prob"))
s.add("masks", "mask: with keep_prob 1.0", D, names=("masks", "D[1]", "keep_prob"))
s.add("masks", "mask: bool", (D[0].astype(bool),), "accept", same(drop), keep_prob=0.5)
s.add("masks", "mask: int", (D[0].astype(jnp.int32),), "accept", same(drop), keep_prob=0.5)
for klass, value in [("int", 3), ("float array", jnp.zeros(2)), ("two keys", jax.random.split(KEY, 2))]:
    s.add("key", "key: " + klass, value, keep_prob=0.5)
s.add("key", "key: and masks", KEY, keep_prob=0.5, masks=D, names=("key", "masks"))
s.add("key", "key: legacy uint32", jax.random.PRNGKey(0), "accept", finite, keep_prob=0.5)
s.add("key", "key: with keep_prob 1", KEY, "accept", lambda out, r=ref[0]: close(out[0], r))
flag(s, "debug")

# --- cost, autodiff_grads ------------------------------------------------------------------------------------
W2 = sum(float(jnp.sum(p.W**2)) for p in params)
ZL = np.asarray(caches[-1].Z)


def np_cost(Yv, reduction="mean"):
    per = np.logaddexp(0, ZL) - np.asarray(Yv, np.float64) * ZL
    total = per.sum()
    return total / 5 if reduction == "mean" else total


def grads_of(fn):
    """jax.grad of a cost written here: fn(params, Z[L], Y) from its own tanh forward."""
    def J(p, Xv, Yv):
        A = Xv
        for l, layer in enumerate(p, start=1):
            Z = layer.W @ A + layer.b
            A = jnp.tanh(Z) if l < len(p) else Z
        return fn(p, A, Yv)
    return jax.grad(J)


def bce_mean(p, Z, Yv, m=5, keep=None, lambd=0.0):
    per = jnp.logaddexp(0.0, Z) - Yv * Z
    if keep is not None:
        per = per[:, keep]
    return (jnp.sum(per) + lambd / 2 * sum(jnp.sum(q.W**2) for q in p)) / m


ref_grads = grads_of(bce_mean)(params, X, Y)
for name, fn in (("cost", jaxbp.cost), ("autodiff_grads", jaxbp.autodiff_grads)):
    s = Spec(name, fn, ("params", "X", "Y"), params=params, X=X, Y=Y, hidden="tanh")
    is_cost = name == "cost"
    ref = s.valid(check=same(np_cost(Y) if is_cost else ref_grads))
    bad_params(s, ref=ref, f16=({"X": X16, "Y": Y16}, same(ref, 2e-2)))
    arrays(s, "X", X, ref, short="tiny", partners=("Y",))
    arrays(s, "Y", Y, ref, labels=True, short=True if is_cost else "tiny", partners=("X",))
    if is_cost:
        s.add("Y", "labels: soft 0.5", jnp.full((2, 5), 0.5), "accept", same(np_cost(jnp.full((2, 5), 0.5))))
    choices(s, "hidden", short=True)
    choices(s, "output", short=True)
    choices(s, "reduction", short=not is_cost)
    counts_m(s, ref=ref, scale=tree_scale, short=not is_cost)  # the full list once, for cost
    for klass, value in [("values 2", jnp.array([[1.0, 1, 2, 1, 0]])), ("values -1", jnp.array([[1.0, 1, -1, 1, 1]])),
                         ("values 0.5", jnp.full((1, 5), 0.5)), ("transposed", jnp.ones((5, 1))),
                         ("1-D", jnp.ones(5)), ("wrong length", jnp.ones((1, 4))),
                         ("complex", jnp.ones((1, 5), complex)), ("NaN", jnp.ones((1, 5)).at[0, 0].set(NAN))
                         ][:6 if is_cost else 3]:
        s.add("mask", "mask: " + klass, value)
    s.add("mask", "mask: bool ones", jnp.ones((1, 5), bool), "accept", same(ref))
    keep = np.array([True, True, False, True, True])
    masked = (float(np_cost(Y, "sum") - (np.logaddexp(0, ZL) - np.asarray(Y) * ZL)[:, 2].sum()) / 5 if is_cost
              else grads_of(lambda p, Z, Yv, keep=keep: bce_mean(p, Z, Yv, keep=keep))(params, X, Y))
    s.add("mask", "mask: one padded column", jnp.asarray(keep[None].astype(np.float64)), "accept", same(masked))
    if is_cost:
        s.add("mask", "mask: int ones", jnp.ones((1, 5), jnp.int32), "accept", same(ref))
    real(s, "lambd", LAMBD_BAD if is_cost else LAMBD_BAD[:4])
    l2 = ((np_cost(Y) + 0.7 / 10 * W2) if is_cost else grads_of(lambda p, Z, Yv: bce_mean(p, Z, Yv, lambd=0.7))(
        params, X, Y))
    s.add("lambd", "number: 0.7", 0.7, "accept", same(l2))
    if is_cost:
        s.add("lambd", "number: huge", 1e6, "accept", same(np_cost(Y) + 1e6 / 10 * W2, 1e-10))
    real(s, "keep_prob", KEEP_BAD[:3] if is_cost else KEEP_BAD[:2], masks=D)
    s.add("keep_prob", "number: int 1", 1, "accept", same(ref))
    s.add("masks", "mask: values 2", (2 * D[0],), keep_prob=0.5, names=("masks", "D[1]"))
    s.add("masks", "mask: with keep_prob 1.0", D, names=("masks", "D[1]", "keep_prob"))
    if is_cost:
        s.add("masks", "mask: transposed", (D[0].T,), keep_prob=0.5, names=("masks", "D[1]"))
    s.add("key", "key: int", 3, keep_prob=0.5)
    s.add("key", "key: two keys", jax.random.split(KEY, 2), keep_prob=0.5)
    flag(s, "debug")

# --- per_example_grads, predict --------------------------------------------------------------------------------
s = Spec("per_example_grads", jaxbp.per_example_grads, ("params", "X", "Y"), params=params, X=X, Y=Y, hidden="tanh")
ref = s.valid(check=lambda out: close(jax.tree.map(lambda a: a.mean(0), out), ref_grads))
bad_params(s, ref=ref)
arrays(s, "X", X, ref, short="tiny", partners=("Y",))
arrays(s, "Y", Y, ref, labels=True, short="tiny", partners=("X",))
choices(s, "hidden", short=True)
choices(s, "output", short=True)
flag(s, "debug")

s = Spec("predict", jaxbp.predict, ("params", "X"), params=params, X=X, hidden="tanh")
ref = s.valid(check=same((np.asarray(AL) > 0.5).astype(np.float64)))
bad_params(s, ref=ref)
arrays(s, "X", X, ref, short="tiny", free_m=True)
choices(s, "hidden", short=True)
choices(s, "output", short=True)
flag(s, "debug")

# --- init_params ---------------------------------------------------------------------------------------------
s = Spec("init_params", jaxbp.init_params, ("key", "layer_dims"), key=KEY, layer_dims=(4, 3, 2))
ref = s.valid()
for klass, value in [("None", None), ("int", 0), ("float array", jnp.zeros(2)), ("two keys", jax.random.split(KEY, 2))]:
    s.add("key", "key: " + klass, value)
s.add("key", "key: legacy uint32", jax.random.PRNGKey(0), "accept", finite)
for klass, value in [("too short", (4,)), ("zero width", (4, 0)), ("negative", (4, -3)), ("float", (4, 3.0)),
                     ("bool", (4, True)), ("string", "432"), ("None", None)]:
    s.add("layer_dims", "dims: " + klass, value)
s.add("layer_dims", "dims: list", [4, 3, 2], "accept", same(ref))
s.add("layer_dims", "dims: NumPy ints", tuple(np.array([4, 3, 2])), "accept", same(ref))
choices(s, "method", short=True)
for klass, value in [("int32", jnp.int32), ("complex", jnp.complex64), ("bool", bool), ("typo string", "flaot32"),
                     ("None", None)]:
    s.add("dtype", "dtype: " + klass, value)
s.add("dtype", "dtype: float64 by name", "float64", "accept",
      same(jaxbp.init_params(KEY, (4, 3, 2), dtype=jnp.float64)))

# --- linear_forward ------------------------------------------------------------------------------------------
W1, b1 = params[0]
s = Spec("linear_forward", jaxbp.linear_forward, ("A_prev", "W", "b"), A_prev=X, W=W1, b=b1)
ref = s.valid(check=same(np.asarray(W1) @ np.asarray(X) + np.asarray(b1)))
arrays(s, "A_prev", X, ref, short=True, free_m=True, partners=("W",))
arrays(s, "W", W1, ref, short="tiny", partners=("A_prev", "b"))
arrays(s, "b", b1, ref, short="tiny", partners=("W",))
s.add("b", "array: b (n_l,) 1-D", b1[:, 0])
s.add("A_prev", "float16: throughout", X16, "accept", same(ref, 2e-2), W=W1.astype(jnp.float16),
      b=b1.astype(jnp.float16))

# --- backward ----------------------------------------------------------------------------------------------
AL16, caches16 = jaxbp.forward(params16, X16, hidden="tanh")
s = Spec("backward", jaxbp.backward, ("params", "caches", "AL", "Y"), params=params, caches=caches, AL=AL, Y=Y,
         hidden="tanh", output="sigmoid")
ref = s.valid(check=same(ref_grads))
bad_params(s, ref=ref, f16=({"caches": caches16, "AL": AL16, "Y": Y16}, same(ref, 3e-2)),
           partners=("caches", "caches[0]"))
s.add("params", "network: grads in place of params", ref_grads, names=("caches", "params"))
C = ("caches",)
s.add("caches", "network: another depth", caches3, names=C)
s.add("caches", "network: another hidden activation", caches_relu, names=C + ("AL",))
s.add("caches", "network: another X", caches_X2, names=C + ("AL",))
s.add("caches", "network: with dropout masks, keep_prob 1.0", caches_drop, names=C + ("keep_prob",))
s.add("caches", "network: None", None, names=C)
s.add("caches", "field: Z[2] transposed", swap(caches, 2, Z=caches[1].Z.T), names=C + ("caches[1]",))
s.add("caches", "field: A_prev float32", swap(caches, 1, A_prev=caches[0].A_prev.astype(jnp.float32)),
      names=C + ("caches[0]",))
s.add("caches", "field: Z NaN", swap(caches, 2, Z=caches[1].Z.at[0, 0].set(NAN)), names=C + ("caches[1]",))
s.add("caches", "field: Z a nested list", swap(caches, 1, Z=np.asarray(caches[0].Z).tolist()), names=C + ("caches[0]",))
s.add("caches", "network: list of Caches", list(caches), "accept", same(ref))

arrays(s, "AL", AL, ref, short="tiny", partners=("Y", "caches"))
s.add("AL", "network: AL of another forward", AL_X2)
s.add("AL", "network: AL of the dropout forward", AL_drop)
arrays(s, "Y", Y, ref, labels=True, short=True, partners=("AL",))
choices(s, "hidden", short=True)
choices(s, "output", short=True)
choices(s, "placement")
choices(s, "start", short=True)
counts_m(s, ref=ref, scale=tree_scale, short=True)
for klass, value in [("values 2", jnp.array([[1.0, 1, 2, 1, 0]])), ("transposed", jnp.ones((5, 1)))]:
    s.add("mask", "mask: " + klass, value)
s.add("mask", "mask: bool ones", jnp.ones((1, 5), bool), "accept", same(ref))
real(s, "lambd", LAMBD_BAD[:3])
s.add("lambd", "number: 0.7", 0.7, "accept",
      same(grads_of(lambda p, Z, Yv: bce_mean(p, Z, Yv, lambd=0.7))(params, X, Y)))
real(s, "keep_prob", KEEP_BAD[:3])
real(s, "keep_prob", [("above 1 with dropout caches", 1.5)], caches=caches_drop, AL=AL_drop)
s.add("keep_prob", "number: int 1", 1, "accept", same(ref))
flag(s, "intermediates")
flag(s, "debug")

# --- backward_from ------------------------------------------------------------------------------------------
dZL = AL - Y
s = Spec("backward_from", jaxbp.backward_from, ("dZL", "params", "caches"), dZL=dZL, params=params, caches=caches,
         hidden="tanh")
ref = s.valid(check=same(ref_grads))
arrays(s, "dZL", dZL, ref, short="tiny", partners=("caches", "caches[0]"))
bad_params(s, ref=ref, partners=("caches", "caches[0]"))
s.add("caches", "network: another depth", caches3, names=C)
s.add("caches", "network: another hidden activation", caches_relu, names=C)
s.add("caches", "network: None", None, names=C)
choices(s, "hidden", short=True)
choices(s, "placement", short=True)
counts_m(s, ref=ref, scale=tree_scale, short=True)
real(s, "lambd", LAMBD_BAD[:3])
real(s, "keep_prob", KEEP_BAD[:3])
flag(s, "intermediates")
flag(s, "debug")

# --- linear_backward, activation_backward --------------------------------------------------------------------
A1, Z2, W2_ = caches[1].A_prev, caches[1].Z, params[1].W
dZ2 = f(2, 5)
s = Spec("linear_backward", jaxbp.linear_backward, ("dZ", "A_prev", "W"), dZ=dZ2, A_prev=A1, W=W2_)
lin = (np.asarray(W2_).T @ np.asarray(dZ2), np.asarray(dZ2) @ np.asarray(A1).T / 5,
       np.asarray(dZ2).sum(1, keepdims=True) / 5)
ref = s.valid(check=same(lin))
arrays(s, "dZ", dZ2, ref, short=True, partners=("A_prev", "W"))
arrays(s, "A_prev", A1, ref, short="tiny", partners=("dZ", "W"))
arrays(s, "W", W2_, ref, short="tiny", partners=("dZ", "A_prev"))
choices(s, "placement", short=True)
counts_m(s, ref=ref, scale=lambda r, k: (r[0], r[1] * k, r[2] * k), short=True)
flag(s, "debug")

s = Spec("activation_backward", jaxbp.activation_backward, ("dA", "Z"), dA=dZ2, Z=Z2, activation="tanh")
ref = s.valid(check=same(np.asarray(dZ2) * (1 - np.tanh(np.asarray(Z2)) ** 2)))
arrays(s, "dA", dZ2, ref, short=True, partners=("Z",))
arrays(s, "Z", Z2, ref, short="tiny", partners=("dA",))
choices(s, "activation")
s.add("dA", "float16: throughout", dZ2.astype(jnp.float16), "accept", same(ref, 2e-2), Z=Z2.astype(jnp.float16))

# --- reduction_for -------------------------------------------------------------------------------------------
s = Spec("reduction_for", jaxbp.reduction_for, ("placement",), placement="deferred")
s.valid(check=lambda out: (out == "mean", repr(out)))
choices(s, "placement")
s.add("placement", "choice: another valid", "sum", "accept", lambda out: (out == "sum", repr(out)))

# --- costs ---------------------------------------------------------------------------------------------------
per_example = np.logaddexp(0, ZL) - np.asarray(Y) * ZL
s = Spec("loss_from_logits", jaxbp.loss_from_logits, ("ZL", "Y"), ZL=caches[1].Z, Y=Y, output="sigmoid")
ref = s.valid(check=same(per_example.sum(0, keepdims=True)))
arrays(s, "ZL", caches[1].Z, ref, short=True, alone=True, partners=("Y",))
arrays(s, "Y", Y, ref, labels=True, short="tiny", partners=("ZL",))
choices(s, "output", short=True)
flag(s, "debug")

Yn, ALn = np.asarray(Y), np.asarray(AL)
prob_ref = -(Yn * np.log(ALn) + (1 - Yn) * np.log(1 - ALn)).sum(0, keepdims=True)
s = Spec("loss_from_probabilities", jaxbp.loss_from_probabilities, ("AL", "Y"), AL=AL, Y=Y, output="sigmoid")
ref = s.valid(check=same(prob_ref, 1e-10))
arrays(s, "AL", AL, ref, short=True, alone=True, partners=("Y",))
s.add("AL", "values: above 1", AL + 1)
arrays(s, "Y", Y, ref, labels=True, short="tiny", partners=("AL",))
choices(s, "output", short=True)
flag(s, "debug")

s = Spec("compute_cost", jaxbp.compute_cost, ("AL", "Y"), AL=AL, Y=Y)
ref = s.valid(check=same(prob_ref.sum() / 5, 1e-10))
arrays(s, "AL", AL, ref, short="tiny", alone=True, partners=("Y",))
s.add("AL", "values: negative", -AL)
arrays(s, "Y", Y, ref, labels=True, short="tiny", partners=("AL",))
choices(s, "output", short=True)
choices(s, "reduction", short=True)

# ==================================================================================== training and parallel

def sgd_ref(p, lr, n, lambd=0.0, Xv=X, Yv=Y, hidden="relu"):
    """n steps of W -= lr dW with dW from jax.grad of a mean BCE + L2 written here."""
    def J(q):
        A = Xv
        for l, layer in enumerate(q, start=1):
            Z = layer.W @ A + layer.b
            A = (jnp.maximum(Z, 0) if hidden == "relu" else jnp.tanh(Z)) if l < len(q) else Z
        return (jnp.sum(jnp.logaddexp(0.0, A) - Yv * A) + lambd / 2 * sum(jnp.sum(w.W**2) for w in q)) / Xv.shape[1]
    costs = []
    for _ in range(n):
        costs.append(J(p))
        p = jax.tree.map(lambda w, g: w - lr * g, p, jax.grad(J)(p))
    return tuple(p), jnp.stack(costs)


def momentum_ref(p, lr, n, beta):
    def J(q):
        A = jnp.maximum(q[0].W @ X + q[0].b, 0)
        Z = q[1].W @ A + q[1].b
        return jnp.sum(jnp.logaddexp(0.0, Z) - Y * Z) / 5
    v, costs = jax.tree.map(jnp.zeros_like, p), []
    for _ in range(n):
        costs.append(J(p))
        v = jax.tree.map(lambda v, g: beta * v + (1 - beta) * g, v, jax.grad(J)(p))
        p = jax.tree.map(lambda w, v: w - lr * v, p, v)
    return tuple(p), jnp.stack(costs)


T = Spec("train", jaxbp.train, ("params", "X", "Y"), params=params, X=X, Y=Y, num_iterations=2, learning_rate=0.5)
ref = T.valid(check=same(sgd_ref(params, 0.5, 2)))
bad_params(T, ref=ref)
arrays(T, "X", X, ref, short="tiny", partners=("Y",))
arrays(T, "Y", Y, ref, labels=True, short="tiny", partners=("X",))
choices(T, "optimizer")
for arg in ("hidden", "output", "grads_from", "placement", "start", "layout"):
    choices(T, arg, short="typo")
real(T, "learning_rate", [("zero", 0), ("negative", -0.1), ("NaN", NAN), ("complex", 0.5 + 0j), ("bool", True),
                          ("string", "0.5")],
     [("int 1", 1, same(sgd_ref(params, 1.0, 2))), ("NumPy float32", np.float32(0.5), same(ref)),
      ("huge", 1e30, same(sgd_ref(params, 1e30, 2), 1e-9)), ("a schedule", lambda step: 0.5, same(ref))])
T.add("learning_rate", "schedule: returns NaN", lambda step: jnp.nan)
T.add("learning_rate", "schedule: returns a (2,) array", lambda step: jnp.ones(2))
for klass, value in [("zero", 0), ("fractional", 2.5), ("bool", True), ("string", "2")]:
    T.add("num_iterations", "number: " + klass, value)
T.add("num_iterations", "number: NumPy int", np.int64(2), "accept", same(ref))
for klass, value in [("zero", 0), ("fractional", 2.5), ("above m", 10)]:
    T.add("batch_size", "number: " + klass, value, key=KEY)
T.add("batch_size", "number: without a key", 2, names=("key",))
T.add("batch_size", "number: m, with a key", 5, "accept", same(ref), key=KEY)
for klass, value in [("int", 3), ("two keys", jax.random.split(KEY, 2))]:
    T.add("key", "key: " + klass, value, batch_size=2)
T.add("key", "key: legacy uint32", jax.random.PRNGKey(0), "accept", finite, batch_size=2)
for klass, value in [("zero", 0), ("fractional", 1.5)]:
    T.add("record_every", "number: " + klass, value)
T.add("record_every", "number: above num_iterations", 10, "accept", same((ref[0], ref[1][:1])))
for klass, value in [("string", "cpu"), ("device list", jax.devices()),
                     ("2-D mesh", jax.make_mesh((2, 2), ("a", "b")))]:
    T.add("mesh", "mesh: " + klass, value, expect="reject" if klass != "2-D mesh" else "either",
          check=None if klass != "2-D mesh" else same(ref))
T.add("mesh", "mesh: 2 devices", jaxbp.make_mesh(jax.devices()[:2]), "accept", same(ref))
flag(T, "process_local")
T.add("process_local", "flag: without a mesh", True, names=("process_local", "mesh"))
T.add("beta", "number: with sgd", 0.9)
real(T, "beta", [("one", 1.0), ("negative", -0.1), ("NaN", NAN), ("string", "0.9")],
     [("zero", 0.0, same(momentum_ref(params, 0.5, 2, 0.0))),
                                          ("0.9", 0.9, same(momentum_ref(params, 0.5, 2, 0.9)))],
     optimizer="momentum")
real(T, "beta1", [("one", 1.0), ("above 1", 1.5)], optimizer="adam")
real(T, "beta2", [("one", 1.0), ("Inf", INF)], optimizer="adam")
real(T, "epsilon", [("zero", 0.0), ("negative", -1.0), ("NaN", NAN)], [("1e-3", 1e-3, finite)], optimizer="adam")
T.add("epsilon", "number: with sgd", 1e-8)
_, _, state_adam = jaxbp.train(params, X, Y, num_iterations=1, optimizer="adam", return_state=True)
_, _, state_sgd = jaxbp.train(params, X, Y, num_iterations=1, learning_rate=0.5, return_state=True)
T.add("state", "state: a tuple", (1, 2))
T.add("state", "state: another optimizer's", state_adam)
T.add("state", "state: negative step", state_sgd._replace(step=jnp.int32(-1)))
p1, c1 = jaxbp.train(params, X, Y, num_iterations=1, learning_rate=0.5)
T.add("state", "state: resume", state_sgd, "accept", same((ref[0], ref[1][1:])), params=p1, num_iterations=1)
flag(T, "return_state")
real(T, "lambd", LAMBD_BAD[:4], [("0.7", 0.7, same(sgd_ref(params, 0.5, 2, lambd=0.7)))])
real(T, "keep_prob", KEEP_BAD[:4], key=KEY)
T.add("keep_prob", "number: below 1 without a key", 0.5, names=("key", "keep_prob"))
T.add("keep_prob", "number: int 1", 1, "accept", same(ref))
T.add("keep_prob", "number: 0.5 with a key", 0.5, "accept", finite, key=KEY)

# --- data_parallel_grads, pmean_of_means_grads ----------------------------------------------------------------
relu_grads = jaxbp.autodiff_grads(params, X, Y)
for name, fn in (("data_parallel_grads", jaxbp.data_parallel_grads),
                 ("pmean_of_means_grads", jaxbp.pmean_of_means_grads)):
    s = Spec(name, fn, ("params", "X", "Y"), params=params, X=X, Y=Y)
    exact = name == "data_parallel_grads"
    if exact:
        ref = s.valid(check=same(relu_grads))
    else:
        shards = [(0, 2), (2, 3), (3, 4), (4, 5)]
        means = [jaxbp.autodiff_grads(params, X[:, a:b], Y[:, a:b]) for a, b in shards]
        ref = s.valid(check=same(jax.tree.map(lambda *g: sum(g) / 4, *means)))
    bad_params(s, ref=ref)
    arrays(s, "X", X, ref, short="tiny", partners=("Y",))
    arrays(s, "Y", Y, ref, labels=True, short="tiny", partners=("X",))
    for arg in ("hidden", "output", "placement", "start", "source") + (("divide",) if exact else ()):
        choices(s, arg, short=True if exact and arg == "divide" else "typo")
    for klass, value in [("string", "cpu"), ("another axis", jax.make_mesh((4,), ("x",))),
                         ("device list", jax.devices())][:3 if exact else 2]:
        s.add("mesh", "mesh: " + klass, value)
    s.add("mesh", "mesh: and devices", jaxbp.make_mesh(), devices=jax.devices(), names=("mesh", "devices"))
    for klass, value in [("string", "cpu"), ("repeated", [jax.devices()[0]] * 2), ("ints", [0, 1])][:3 if exact else 2]:
        s.add("devices", "devices: " + klass, value)
    for klass, value in [("too few", (3, 2)), ("negative", (3, 2, 1, -1)), ("fractional", (1.5, 1.5, 1, 1)),
                         ("wrong sum", (2, 2, 2, 2)), ("bool", (True, True, True, 2)), ("string", "2111"),
                         ("None inside", (2, 1, 1, None))][:6 if exact else 4]:
        s.add("counts", "counts: " + klass, value)
    if exact:
        s.add("counts", "counts: all on one device", (5, 0, 0, 0), "accept", same(ref))
        s.add("counts", "counts: NumPy array", np.array([2, 1, 1, 1]), "accept", same(ref))
        s.add("devices", "devices: two", jax.devices()[:2], "accept", same(ref))
        flag(s, "process_local")
        s.add("process_local", "flag: one process", True, "either", same(ref))
    else:
        s.add("placement", "choice: sum", "sum")
        s.add("counts", "counts: an empty shard", (5, 0, 0, 0))
        s.add("counts", "counts: NumPy array", np.array([2, 1, 1, 1]), "accept", same(ref))

# --- make_mesh, pmean_error ---------------------------------------------------------------------------------
s = Spec("make_mesh", jaxbp.make_mesh, ("devices",), devices=None)
s.valid(check=lambda out: (out.devices.size == 4 and out.axis_names == ("batch",), repr(out)))
for klass, value in [("string", "cpu"), ("empty", []), ("repeated", [jax.devices()[0]] * 2),
                     ("a Device", jax.devices()[0]), ("ints", [0, 1]), ("an int", 2)]:
    s.add("devices", "devices: " + klass, value)
two = lambda out: (out.devices.size == 2 and out.axis_names == ("batch",), repr(out))  # noqa: E731
s.add("devices", "devices: a tuple of two", tuple(jax.devices()[:2]), "accept", two)
s.add("devices", "devices: a generator of two", (d for d in jax.devices()[:2]), "accept", two)

local = [jaxbp.autodiff_grads(params, X[:, a:b], Y[:, a:b]) for a, b in [(0, 2), (2, 3), (3, 4), (4, 5)]]
s = Spec("pmean_error", jaxbp.pmean_error, ("local_means", "counts"), local_means=local, counts=(2, 1, 1, 1))
w = [1 / 4 - n / 5 for n in (2, 1, 1, 1)]
ref = s.valid(check=same(jax.tree.map(lambda *g: sum(wk * gk for wk, gk in zip(w, g, strict=True)), *local)))
s.add("counts", "counts: too few", (2, 1, 2), names=("counts", "local_means"))
for klass, value in [("negative", (3, 1, 2, -1)), ("fractional", (1.5, 1.5, 1, 1)),
                     ("bool", (True, 1, 1, 2)), ("all zero", (0, 0, 0, 0)), ("empty", ()), ("None", None),
                     ("string", "2111")]:
    s.add("counts", "counts: " + klass, value)
s.add("counts", "counts: NumPy array", np.array([2, 1, 1, 1]), "accept", same(ref))
for klass, value in [("one tree", local[0]), ("None", None), ("trees of other shapes", local[:3] + [params3[:2]]),
                     ("trees of another structure", local[:3] + [local[3][0]]),
                     ("a NaN", local[:3] + [swap(local[3], 1, W=local[3][0].W.at[0, 0].set(NAN))])]:
    s.add("local_means", "means: " + klass, value)
s.add("local_means", "means: a tuple", tuple(local), "accept", same(ref))

# --- sweep ----------------------------------------------------------------------------------------------------
keys4 = jax.random.split(KEY, 4)
s = Spec("sweep", jaxbp.sweep, ("keys", "X", "Y"), keys=keys4, X=X, Y=Y, layer_dims=(4, 3, 2),
         learning_rates=jnp.full(4, 0.5), num_iterations=2)
k_init, _ = jax.random.split(keys4[1])
run1 = jaxbp.train(jaxbp.init_params(k_init, (4, 3, 2), dtype=jnp.float64), X, Y, learning_rate=0.5, num_iterations=2)
ref = s.valid(check=lambda out: close(jax.tree.map(lambda a: a[1], out), run1))
for klass, value in [("int array", jnp.arange(4)), ("None", None), ("one key", KEY), ("three keys", keys4[:3]),
                     ("legacy (4, 2)", jax.random.split(jax.random.PRNGKey(0), 4))]:
    s.add("keys", "keys: " + klass, value, expect="either" if "legacy" in klass else "reject",
          check=finite if "legacy" in klass else None, names=("keys", "learning_rates"))
arrays(s, "X", X, ref, short="tiny", partners=("Y",), alone=True)
arrays(s, "Y", Y, ref, labels=True, short="tiny", partners=("X",))
for klass, value in [("negative", jnp.full(4, -0.5)), ("NaN", jnp.full(4, NAN)), ("complex", jnp.full(4, 0.5 + 0j)),
                     ("(4, 1)", jnp.full((4, 1), 0.5)), ("scalar", 0.5), ("strings", ["0.5"] * 4)]:
    s.add("learning_rates", "rates: " + klass, value, names=("learning_rates", "learning_rate"))
s.add("learning_rates", "rates: a list", [0.5] * 4, "accept", same(ref))
for klass, value in [("another n_x", (5, 3, 2)), ("too short", (4,)), ("float", (4, 3.0, 2)), ("string", "432"),
                     ("zero width", (4, 0, 2))]:
    s.add("layer_dims", "dims: " + klass, value, names=("layer_dims", "Y", "X"))
s.add("layer_dims", "dims: NumPy ints", tuple(np.array([4, 3, 2])), "accept", same(ref))
choices(s, "method", short=True)
for klass, extra in [("unknown option", {"learning_rat": 0.1}), ("learning_rate", {"learning_rate": 0.1}),
                     ("num_iterations 0", {"num_iterations": 0}), ("beta with sgd", {"beta": 0.9}),
                     ("keep_prob 1.5", {"keep_prob": 1.5}), ("lambd -1", {"lambd": -1.0}),
                     ("batch_size a list", {"batch_size": [2]}), ("lambd of wrong length", {"lambd": jnp.ones(3)})]:
    (name, value), = extra.items()
    s.add(name, "options: " + klass, value, names=(name,) + (("options",) if name == "learning_rat" else ()))

# =========================================================================================== checkers

def linear_backward(dZ, cache):
    """The course's one-layer step, written correctly (a learner's function that check recognises by name)."""
    A_prev, W, b = cache
    m = A_prev.shape[1]
    return W.T @ dZ, dZ @ A_prev.T / m, np.sum(dZ, axis=1, keepdims=True) / m


def backward_fn(p, Xv, Yv):
    return jaxbp.autodiff_grads(p, Xv, Yv)


s = Spec("check", jaxbp.check, ("fn",), fn=linear_backward)
s.valid(check=report_ok)
for klass, value in [("None", None), ("a string", "linear_backward"), ("an int", 3)]:
    s.add("fn", "function: " + klass, value, names=("fn", "backward_fn", "course_function"))
s.add("fn", "function: unknown name", lambda dZ, cache: None, names=("fn", "assignment"))
for klass, value in [("typo", "linear_backwards"), ("wrong case", "Linear_Backward"), ("non-string", 1)]:
    s.add("assignment", "choice: " + klass, value)
for klass, value in [("too short", (5,)), ("zero", (5, 0)), ("negative", (5, -3)), ("float", (5, 3.0)),
                     ("three numbers", (5, 3, 1))]:
    s.add("dims", "dims: " + klass, value)
s.add("dims", "dims: another (n_prev, n_l)", (4, 2), "accept", report_ok)
for klass, value in [("zero", 0), ("negative", -1), ("fractional", 2.5), ("bool", True)]:
    s.add("m", "number: " + klass, value)
s.add("m", "number: NumPy int", np.int64(8), "accept", report_ok)
for klass, value in [("negative", -1), ("fractional", 2.5), ("bool", True)]:
    s.add("seed", "number: " + klass, value)
s.add("seed", "number: NumPy int", np.int64(3), "accept", report_ok)
for klass, value in [("int32", np.int32), ("typo string", "flaot64"), ("a number", 3)]:
    s.add("dtype", "dtype: " + klass, value)
s.add("dtype", "dtype: float32", np.float32, "accept", report_ok)
s.add("context", "context: a string", "my notes", names=("context",))

g = Spec("check", jaxbp.check, ("fn", "params", "X", "Y"), fn=backward_fn, params=params, X=X, Y=Y)
g.valid(check=report_ok)
g.add("fn", "function: None (generic form)", None, names=("fn", "backward_fn"))
g.add("params", "network: W[2] transposed", swap(params, 2, W=params[1].W.T), names=("W[2]",))
arrays(g, "X", X, None, short="tiny", numpy_ok=False, partners=("Y",))
g.add("Y", "array: transposed", Y.T)
g.add("Y", "labels: outside [0, 1]", 2 * Y)
for arg, value in (("hidden", "rel"), ("output", "sigmoi"), ("placement", "deferre")):
    g.add(arg, "choice: typo", value)
for klass, value in LAMBD_BAD[:3]:
    g.add("lambd", "number: " + klass, value)
for klass, value in KEEP_BAD[:3]:
    g.add("keep_prob", "number: " + klass, value)
flag(g, "fd")

s = Spec("check_layer", jaxbp.check_layer, ("backward",), backward=nn.conv_backward)
s.valid(check=report_ok)
for klass, value in [("None", None), ("a string", "conv_backward"), ("an int", 3)]:
    s.add("backward", "function: " + klass, value)
s.add("backward", "function: unknown name", lambda dZ, cache: None, names=("backward", "layer"))
for klass, value in [("an int", 3), ("a string", "conv_forward"), ("another layer's", nn.pool_forward)]:
    s.add("forward", "function: " + klass, value)
for klass, value in [("typo", "cnv"), ("wrong case", "Conv"), ("non-string", 1), ("another layer", "rnn")]:
    s.add("layer", "choice: " + klass, value)
for klass, value in [("negative", -1), ("fractional", 2.5), ("bool", True), ("None", None)]:
    s.add("seed", "number: " + klass, value)
s.add("seed", "number: NumPy int", np.int64(1), "accept", report_ok)
for klass, value in [("float16", "float16"), ("typo", "f64"), ("None", None), ("int", "int32")]:
    s.add("dtype", "dtype: " + klass, value)
s.add("dtype", "dtype: NumPy float64", np.float64, "either", report_ok)
s.add("dtype", "dtype: float32", "float32", "accept", report_ok)

s = Spec("course_backward", jaxbp.course_backward, ("L_model_forward", "L_model_backward"),
         L_model_forward=lambda X, parameters: None, L_model_backward=lambda AL, Y, caches: None)
s.valid(check=lambda out: (callable(out), repr(out)))
for arg in ("L_model_forward", "L_model_backward"):
    for klass, value in [("None", None), ("a string", arg), ("an int", 3)]:
        s.add(arg, "function: " + klass, value)

# ====================================================================================== jaxbp.layers

def layer_arrays(spec, arg, x, ref, *, names=None, partners=(), short=False, free=None, alone=False, **also):
    """The array classes for a layer's N-D array (NumPy, as learners pass them): 4 if short, else 7.

    free: "last" when any length of the last axis is legitimate (T_x, n_C), "all" when any shape is;
    partners and alone as for arrays().
    """
    names = tuple(names or (arg,))
    add = lambda klass, value, *a, n=names, **k: spec.add(arg, klass, value, *a, names=n, **k, **also)  # noqa: E731
    shape_names = names + tuple(partners)
    x = np.asarray(x)
    if free is None and x.shape[-1] > 1:
        add("array: last axis short", x[..., :-1], n=shape_names)
    else:
        add("array: one axis fewer", x[0])
    if alone:
        add("dtype: float32 alone", x.astype(np.float32), "accept", same(ref, 1e-5))
    else:
        add("dtype: float32 mixed", x.astype(np.float32))
    bad = x.copy()
    bad[(0,) * x.ndim] = NAN
    add("values: NaN", bad)
    add("array: None", None)
    if not short:
        if free is None:
            add("array: one axis fewer", x[0])
        add("dtype: int32", x.astype(np.int32))
        add("array: jax array", jnp.asarray(x), "accept", same(ref))


lr = np.random.default_rng(1)
n = lambda *shape: lr.standard_normal(shape)  # noqa: E731

# --- conv, pool ----------------------------------------------------------------------------------------------
A_prev, Wc, bc, hp = n(2, 5, 7, 3), n(3, 3, 3, 4), n(1, 1, 1, 4), {"stride": 1, "pad": 1}
s = Spec("zero_pad", nn.zero_pad, ("X", "pad"), X=A_prev, pad=1)
ref = s.valid(check=same(np.pad(A_prev, ((0, 0), (1, 1), (1, 1), (0, 0)))))
layer_arrays(s, "X", A_prev, ref, free="all", alone=True)
for klass, value in [("negative", -1), ("fractional", 1.5), ("string", "1"), ("None", None), ("bool", True),
                     ("NaN", NAN)]:
    s.add("pad", "number: " + klass, value)
s.add("pad", "number: NumPy int", np.int64(1), "accept", same(ref))


def hparam_cases(spec, keys, good, **also):
    arg = "hparameters"
    for k in keys:
        for klass, value in [("zero" if k != "pad" else "negative", 0 if k != "pad" else -1), ("fractional", 1.5),
                             ("bool", True)]:
            spec.add(arg, f"hparameters['{k}']: {klass}", {**good, k: value}, names=(f"hparameters['{k}']", arg),
                     **also)
        spec.add(arg, f"hparameters: missing '{k}'", {q: v for q, v in good.items() if q != k}, **also)
    spec.add(arg, "hparameters: not a dict", tuple(good.values()), **also)
    spec.add(arg, "hparameters: None", None, **also)
    spec.add(arg, "hparameters: NumPy ints", {k: np.int64(v) for k, v in good.items()}, "accept",
             same(spec.thunk({})()), **also)


s = Spec("conv_forward", nn.conv_forward, ("A_prev", "W", "b", "hparameters"), A_prev=A_prev, W=Wc, b=bc,
         hparameters=hp)
Zc, conv_cache = s.valid()
ref = (Zc, conv_cache)
layer_arrays(s, "A_prev", A_prev, ref, partners=("W",))
layer_arrays(s, "W", Wc, ref, short=True, partners=("A_prev", "b"))
layer_arrays(s, "b", bc, ref, short=True, partners=("W",))
hparam_cases(s, ("stride", "pad"), hp)
s.add("hparameters", "hparameters: an extra key", {**hp, "f": 3}, "either", lambda out: close(out[0], Zc))

dZc = n(*Zc.shape)
s = Spec("conv_backward", nn.conv_backward, ("dZ", "cache"), dZ=dZc, cache=conv_cache)
_, vjp = jax.vjp(lambda a, w, b: nn.conv_forward(a, w, b, hp)[0], A_prev, Wc, bc)
ref = s.valid(check=same(vjp(jnp.asarray(dZc)), 1e-10))
layer_arrays(s, "dZ", dZc, ref, partners=("cache",))
pool_hp = {"f": 2, "stride": 2}
pool_cache = nn.pool_forward(A_prev, pool_hp)[1]
for klass, value, names in [("too short", conv_cache[:3], None), ("pool's cache", pool_cache, None),
                            ("None", None, None),
                            ("W transposed", (A_prev, np.swapaxes(Wc, 2, 3), bc, hp), ("cache", "W", "dZ")),
                            ("A_prev float32", (A_prev.astype(np.float32), Wc, bc, hp), ("cache", "A_prev", "W")),
                            ("hparameters stride 0", (A_prev, Wc, bc, {"stride": 0, "pad": 1}),
                             ("hparameters['stride']",))]:
    s.add("cache", "cache: " + klass, value, names=names or ("cache",))
s.add("cache", "cache: a list", list(conv_cache), "accept", same(ref))

s = Spec("pool_forward", nn.pool_forward, ("A_prev", "hparameters"), A_prev=A_prev, hparameters=pool_hp, mode="max")
pool_out = s.valid()
layer_arrays(s, "A_prev", A_prev, pool_out, free="all", alone=True)
hparam_cases(s, ("f", "stride"), pool_hp)
s.add("hparameters", "hparameters['f']: above the input", {"f": 9, "stride": 1}, names=("hparameters['f']", "f"))
choices(s, "mode")

dAp = n(*pool_out[0].shape)
s = Spec("pool_backward", nn.pool_backward, ("dA", "cache"), dA=dAp, cache=pool_cache, mode="max")
_, vjp = jax.vjp(lambda a: nn.pool_forward(a, pool_hp)[0], A_prev)
ref = s.valid(check=same(vjp(jnp.asarray(dAp))[0]))
layer_arrays(s, "dA", dAp, ref, partners=("cache", "A_prev"))
for klass, value in [("conv's cache", conv_cache), ("too short", pool_cache[:1]), ("None", None),
                     ("hparameters f 0", (A_prev, {"f": 0, "stride": 2}))]:
    s.add("cache", "cache: " + klass, value, names=("cache", "hparameters", "hparameters['f']"))
choices(s, "mode")

# --- rnn, lstm -----------------------------------------------------------------------------------------------
n_x, n_a, n_y, m, T_x = 3, 5, 2, 4, 6
rnn_p = {"Wax": n(n_a, n_x), "Waa": n(n_a, n_a), "Wya": n(n_y, n_a), "ba": n(n_a, 1), "by": n(n_y, 1)}
lstm_p = {**{f"W{g}": n(n_a, n_a + n_x) for g in "fico"}, **{f"b{g}": n(n_a, 1) for g in "fico"},
          "Wy": n(n_y, n_a), "by": n(n_y, 1)}
x, a0, da = n(n_x, m, T_x), n(n_a, m), n(n_a, m, T_x)
xt, a_prev, c_prev, da_next = x[..., 0], n(n_a, m), n(n_a, m), n(n_a, m)


def parameter_cases(spec, p, ref, key_w, key_b, head, **also):
    arg = "parameters"
    P = lambda k: (f"parameters['{k}']", arg)  # noqa: E731
    missing = {k: v for k, v in p.items() if k != key_b}
    for klass, value, names in [
            (f"missing '{key_b}'", missing, (arg, key_b)),
            (f"'{key_w}' transposed", {**p, key_w: p[key_w].T}, P(key_w)),
            (f"'{key_b}' 1-D", {**p, key_b: p[key_b][:, 0]}, P(key_b)),
            (f"'{key_w}' float32", {**p, key_w: p[key_w].astype(np.float32)}, P(key_w)),
            (f"'{key_w}' NaN", {**p, key_w: np.where(np.arange(p[key_w].size).reshape(p[key_w].shape) == 0, NAN,
                                                      p[key_w])}, P(key_w)),
            ("not a dict", tuple(p.values()), (arg,)), ("None", None, (arg,))]:
        spec.add(arg, "parameters: " + klass, value, names=names, **also)
    spec.add(arg, "parameters: an extra key", {**p, "extra": 1.0}, "either", lambda out: close(out[:head], ref[:head]),
             **also)


s = Spec("rnn_cell_forward", nn.rnn_cell_forward, ("xt", "a_prev", "parameters"), xt=xt, a_prev=a_prev,
         parameters=rnn_p)
ref = s.valid()
layer_arrays(s, "xt", xt, ref, partners=("a_prev", "parameters"))
layer_arrays(s, "a_prev", a_prev, ref, short=True, partners=("xt", "parameters"))
parameter_cases(s, rnn_p, ref, "Wax", "ba", 2)

s = Spec("rnn_forward", nn.rnn_forward, ("x", "a0", "parameters"), x=x, a0=a0, parameters=rnn_p)
a_rnn, y_rnn, rnn_caches = s.valid()
ref = (a_rnn, y_rnn, rnn_caches)
layer_arrays(s, "x", x, ref, free="last", partners=("a0", "parameters"))
layer_arrays(s, "a0", a0, ref, short=True, partners=("x", "parameters"))
parameter_cases(s, rnn_p, ref, "Wax", "by", 2)

rnn_cell_cache = nn.rnn_cell_forward(xt, a_prev, rnn_p)[2]
s = Spec("rnn_cell_backward", nn.rnn_cell_backward, ("da_next", "cache"), da_next=da_next, cache=rnn_cell_cache)
def rnn_cell_a(xx, aa, W1_, W2_, bb):
    return nn.rnn_cell_forward(xx, aa, {**rnn_p, "Wax": W1_, "Waa": W2_, "ba": bb})[0]


_, vjp = jax.vjp(rnn_cell_a, xt, a_prev, rnn_p["Wax"], rnn_p["Waa"], rnn_p["ba"])
grads_cell = vjp(jnp.asarray(da_next))
ref = s.valid(check=lambda out: close([out[k] for k in ("dxt", "da_prev", "dWax", "dWaa", "dba")], list(grads_cell)))
layer_arrays(s, "da_next", da_next, ref, partners=("cache", "a_prev", "xt"))
lstm_cell_cache = nn.lstm_cell_forward(xt, a_prev, c_prev, lstm_p)[3]
for klass, value, names in [("LSTM's cell cache", lstm_cell_cache, ("cache",)),
                            ("too short", rnn_cell_cache[:3], ("cache",)), ("None", None, ("cache",)),
                            ("xt transposed", (rnn_cell_cache[0], a_prev, xt.T, rnn_p), ("xt", "cache", "a_prev"))]:
    s.add("cache", "cache: " + klass, value, names=names)

s = Spec("rnn_backward", nn.rnn_backward, ("da", "caches"), da=da, caches=rnn_caches)
_, vjp = jax.vjp(lambda xx, aa, W1_, W2_, bb: nn.rnn_forward(xx, aa, {**rnn_p, "Wax": W1_, "Waa": W2_, "ba": bb})[0],
                 x, a0, rnn_p["Wax"], rnn_p["Waa"], rnn_p["ba"])
grads_rnn = vjp(jnp.asarray(da))
ref = s.valid(check=lambda out: close([out[k] for k in ("dx", "da0", "dWax", "dWaa", "dba")], list(grads_rnn)))
layer_arrays(s, "da", da, ref, partners=("caches", "caches' a"))
lstm_out = nn.lstm_forward(x, a0, lstm_p)
lstm_caches = lstm_out[3]
for klass, value in [("LSTM's caches", lstm_caches), ("no x", rnn_caches[0]), ("None", None),
                     ("empty list", ([], x))]:
    s.add("caches", "caches: " + klass, value)
s.add("caches", "caches: the course's list", nn.rnn_caches_as_list(rnn_caches), "accept", same(ref))

for name, fn, stack, other in (("rnn_caches_as_list", nn.rnn_caches_as_list, rnn_caches, lstm_caches),
                               ("rnn_caches_as_stack", nn.rnn_caches_as_stack, rnn_caches, lstm_caches),
                               ("lstm_caches_as_list", nn.lstm_caches_as_list, lstm_caches, rnn_caches),
                               ("lstm_caches_as_stack", nn.lstm_caches_as_stack, lstm_caches, rnn_caches)):
    s = Spec(name, fn, ("caches",), caches=stack)
    ref = s.valid()
    for klass, value in [("the other cell's caches", other), ("None", None), ("no x", stack[0]),
                         ("empty list", ([], stack[1])), ("a cell cache of the wrong length", ([(1, 2)], stack[1]))]:
        s.add("caches", "caches: " + klass, value)
    other_form = {"rnn_caches_as_list": nn.rnn_caches_as_stack, "rnn_caches_as_stack": nn.rnn_caches_as_list,
                  "lstm_caches_as_list": nn.lstm_caches_as_stack, "lstm_caches_as_stack": nn.lstm_caches_as_list}[name]
    s.add("caches", "caches: the other form", other_form(stack), "accept", same(ref))

s = Spec("lstm_cell_forward", nn.lstm_cell_forward, ("xt", "a_prev", "c_prev", "parameters"), xt=xt, a_prev=a_prev,
         c_prev=c_prev, parameters=lstm_p)
ref = s.valid()
layer_arrays(s, "xt", xt, ref, partners=("a_prev", "parameters"))
layer_arrays(s, "a_prev", a_prev, ref, short=True, partners=("xt", "parameters"))
layer_arrays(s, "c_prev", c_prev, ref, short=True, partners=("xt", "a_prev"))
parameter_cases(s, lstm_p, ref, "Wf", "bo", 3)

s = Spec("lstm_forward", nn.lstm_forward, ("x", "a0", "parameters"), x=x, a0=a0, parameters=lstm_p)
ref = s.valid()
layer_arrays(s, "x", x, ref, free="last", partners=("a0", "parameters"))
layer_arrays(s, "a0", a0, ref, short=True, partners=("x", "parameters"))
parameter_cases(s, lstm_p, ref, "Wc", "by", 3)

dc_next = n(n_a, m)
s = Spec("lstm_cell_backward", nn.lstm_cell_backward, ("da_next", "dc_next", "cache"), da_next=da_next,
         dc_next=dc_next, cache=lstm_cell_cache)
_, vjp = jax.vjp(lambda xx, aa, cc, Wf: nn.lstm_cell_forward(xx, aa, cc, {**lstm_p, "Wf": Wf})[:2], xt, a_prev,
                 c_prev, lstm_p["Wf"])
g_lstm = vjp((jnp.asarray(da_next), jnp.asarray(dc_next)))
ref = s.valid(check=lambda out: close([out[k] for k in ("dxt", "da_prev", "dc_prev", "dWf")], list(g_lstm), 1e-10))
layer_arrays(s, "da_next", da_next, ref, partners=("cache", "a_prev", "xt"))
layer_arrays(s, "dc_next", dc_next, ref, short=True, partners=("cache", "a_prev", "xt"))
for klass, value in [("RNN's cell cache", rnn_cell_cache), ("too short", lstm_cell_cache[:5]), ("None", None)]:
    s.add("cache", "cache: " + klass, value)

s = Spec("lstm_backward", nn.lstm_backward, ("da", "caches"), da=da, caches=lstm_caches)
_, vjp = jax.vjp(lambda xx, aa, Wf: nn.lstm_forward(xx, aa, {**lstm_p, "Wf": Wf})[0], x, a0, lstm_p["Wf"])
g_seq = vjp(jnp.asarray(da))
ref = s.valid(check=lambda out: close([out[k] for k in ("dx", "da0", "dWf")], list(g_seq), 1e-10))
layer_arrays(s, "da", da, ref, partners=("caches", "caches' a"))
for klass, value in [("RNN's caches", rnn_caches), ("no x", lstm_caches[0]), ("None", None)]:
    s.add("caches", "caches: " + klass, value)
s.add("caches", "caches: the course's list", nn.lstm_caches_as_list(lstm_caches), "accept", same(ref))

# --- batch norm, layer norm ----------------------------------------------------------------------------------
N_, D_ = 4, 5
xb, gamma, beta, dout = 3 * n(N_, D_) + 2, n(D_), n(D_), n(N_, D_)
bn = {"mode": "train", "eps": 1e-5, "momentum": 0.9}
s = Spec("batchnorm_forward", nn.batchnorm_forward, ("x", "gamma", "beta", "bn_param"), x=xb, gamma=gamma, beta=beta,
         bn_param=bn)
bn_out, bn_cache = s.valid()
mu, var = xb.mean(0), xb.var(0)
bn_ref = gamma * (xb - mu) / np.sqrt(var + 1e-5) + beta
ref = (bn_out, bn_cache)
layer_arrays(s, "x", xb, ref, partners=("gamma", "beta"))
layer_arrays(s, "gamma", gamma, ref, short=True, partners=("x",))
layer_arrays(s, "beta", beta, ref, short=True, partners=("x",))
for klass, value, names in [
        ("no mode", {"eps": 1e-5}, ("bn_param",)), ("mode typo", {**bn, "mode": "trian"}, ("bn_param['mode']",)),
        ("mode None", {**bn, "mode": None}, ("bn_param['mode']",)),
        ("eps negative", {**bn, "eps": -1.0}, ("bn_param['eps']", "eps")),
        ("eps NaN", {**bn, "eps": NAN}, ("bn_param['eps']", "eps")),
        ("eps a string", {**bn, "eps": "1e-5"}, ("bn_param['eps']", "eps")),
        ("momentum above 1", {**bn, "momentum": 1.5}, ("bn_param['momentum']", "momentum")),
        ("momentum NaN", {**bn, "momentum": NAN}, ("bn_param['momentum']", "momentum")),
        ("running_mean 2-D", {**bn, "running_mean": np.zeros((1, D_))}, ("bn_param['running_mean']",)),
        ("running_var negative", {**bn, "mode": "test", "running_mean": np.zeros(D_), "running_var": -np.ones(D_)},
         ("bn_param['running_var']",)),
        ("not a dict", ("train",), ("bn_param",))]:
    s.add("bn_param", "bn_param: " + klass, value, names=names)
s.add("bn_param", "bn_param: NumPy eps", {**bn, "eps": np.float64(1e-5)}, "accept", same(ref))
s.add("bn_param", "bn_param: defaults only", {"mode": "train"}, "accept", lambda out: close(out[0], bn_ref, 1e-10))

for name, fn in (("batchnorm_backward", nn.batchnorm_backward), ("batchnorm_backward_alt", nn.batchnorm_backward_alt)):
    s = Spec(name, fn, ("dout", "cache"), dout=dout, cache=bn_cache)
    _, vjp = jax.vjp(lambda a, g, b: nn.batchnorm_forward(a, g, b, bn)[0], xb, gamma, beta)
    ref = s.valid(check=same(vjp(jnp.asarray(dout)), 1e-10))
    layer_arrays(s, "dout", dout, ref, partners=("cache", "cache's x"))
    ln_cache = nn.layernorm_forward(xb, gamma, beta, {})[1]
    for klass, value in [("layer norm's cache", ln_cache), ("too short", bn_cache[:5]), ("None", None),
                         ("mode typo", bn_cache._replace(mode="tset"))]:
        s.add("cache", "cache: " + klass, value, names=("cache", "cache's mode"))
    s.add("cache", "cache: a plain tuple", tuple(bn_cache), "accept", same(ref))

s = Spec("layernorm_forward", nn.layernorm_forward, ("x", "gamma", "beta", "ln_param"), x=xb, gamma=gamma, beta=beta,
         ln_param={})
ln_out = s.valid()
layer_arrays(s, "x", xb, ln_out, partners=("gamma", "beta"))
layer_arrays(s, "gamma", gamma, ln_out, short=True, partners=("x",))
layer_arrays(s, "beta", beta, ln_out, short=True, partners=("x",))
for klass, value in [("eps negative", {"eps": -1.0}), ("eps NaN", {"eps": NAN}), ("eps a string", {"eps": "1e-5"}),
                     ("eps zero", {"eps": 0.0}), ("not a dict", ()), ("None", None)]:
    s.add("ln_param", "ln_param: " + klass, value, names=("ln_param", "ln_param['eps']", "eps"))
s.add("ln_param", "ln_param: cs231n's mode", {"mode": "train"}, "accept", same(ln_out))

s = Spec("layernorm_backward", nn.layernorm_backward, ("dout", "cache"), dout=dout, cache=ln_out[1])
_, vjp = jax.vjp(lambda a, g, b: nn.layernorm_forward(a, g, b, {})[0], xb, gamma, beta)
ref = s.valid(check=same(vjp(jnp.asarray(dout)), 1e-10))
layer_arrays(s, "dout", dout, ref, partners=("cache", "cache's x_hat"))
for klass, value in [("batch norm's cache", bn_cache), ("too short", ln_out[1][:2]), ("None", None),
                     ("sigma transposed", ln_out[1]._replace(sigma=ln_out[1].sigma.T))]:
    s.add("cache", "cache: " + klass, value, names=("cache", "sigma"))


# ================================================================================================ run

def innermost_file(err):
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last or ""


def names_argument(message, names):
    for name in names:
        pattern = r"(?<![\w\]\.])" + re.escape(name) + r"(?![\w])"
        for hit in re.finditer(pattern, message):
            if len(name) > 2 or re.match(SUBJECT, message[hit.end():]):
                return True
    return False


def classify(case):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = block(case.call())
        except Exception as err:  # noqa: BLE001
            where = innermost_file(err)
            ours = os.path.abspath(where).startswith(PACKAGE + os.sep)
            text = f"{type(err).__name__}: {first_line(err)}"
            if isinstance(err, (ValueError, TypeError)) and ours and names_argument(str(err), case.names):
                return "clear", text
            why = [] if ours else [f"raised in {where.split('site-packages/')[-1]}"]
            if isinstance(err, (ValueError, TypeError)) and not names_argument(str(err), case.names):
                why.append(f"names none of {', '.join(case.names)}")
            return "unclear", text + (f"  [{'; '.join(why)}]" if why else "")
    warned = f" (warned: {caught[0].category.__name__})" if caught else ""
    if case.check is None:
        return "silent", f"accepted nonsense; {summary(out)}{warned}"
    try:
        ok, why = case.check(out)
    except Exception as err:  # noqa: BLE001
        ok, why = False, f"result unreadable: {type(err).__name__}: {first_line(err)}"
    return ("correct" if ok else "silent"), why + warned


def summary(out):
    return f"returned {type(out).__name__} ({finite(out)[1]})"


def main():
    start = time.perf_counter()
    results = []
    for case in CASES:
        outcome, text = classify(case)
        results.append((case, outcome, text))
    elapsed = time.perf_counter() - start
    kinds = ("clear", "correct", "unclear", "silent")
    per_fn = {}
    for case, outcome, _ in results:
        per_fn.setdefault(case.fn, dict.fromkeys(kinds, 0))[outcome] += 1
    width = max(map(len, per_fn)) + 2
    print(f"jaxbp bad-call sweep: {len(results)} calls over {len(per_fn)} functions "
          f"(JAX {jax.__version__}, {jax.default_backend()}, {jax.device_count()} devices)\n")
    print(f"{'function':<{width}}{'clear':>7}{'correct':>9}{'unclear':>9}{'silent':>8}{'total':>7}")
    for fn, c in per_fn.items():
        print(f"{fn:<{width}}{c['clear']:>7}{c['correct']:>9}{c['unclear']:>9}{c['silent']:>8}{sum(c.values()):>7}")
    total = {k: sum(c[k] for c in per_fn.values()) for k in kinds}
    print(f"{'total':<{width}}{total['clear']:>7}{total['correct']:>9}{total['unclear']:>9}{total['silent']:>8}"
          f"{sum(total.values()):>7}")
    if VALID:
        print("\nvalid calls that failed (their cases are still counted):")
        for fn, why in VALID.items():
            print(f"  {fn}: {why}")
    for title, keep in (("unclear", lambda o, c: o == "unclear"), ("silent", lambda o, c: o == "silent"),
                        ("over-strict (a legitimate input rejected clearly)",
                         lambda o, c: o == "clear" and c.expect == "accept")):
        rows = [(c, t) for c, o, t in results if keep(o, c)]
        print(f"\n{title}: {len(rows)}")
        for c, t in rows:
            print(f"  {c.fn}({c.arg}) [{c.klass}] {c.value}  ->  {t}")
    print(f"\nrun time: {elapsed:.1f} s for the calls ({time.perf_counter() - T0:.1f} s with set-up and import)")


if __name__ == "__main__":
    main()
