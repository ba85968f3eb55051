"""When a learner's code raises: its own frames, the call jaxbp made, and what to change.

    explain(err, call=..., module=..., formats=...) -> text
        your code raised KeyError: 'dA2'
          File "learner.py", line 14, in L_model_backward
            dA_prev, dW, db = linear_activation_backward(grads["dA" + str(l + 2)], current_cache, "relu")
            where grads: dict with keys dA2, dW3, db3; l: int 0; current_cache: tuple of 2
        jaxbp called: L_model_backward(AL=ndarray (1, 64) float64, Y=..., caches=list of 3)
        hint: the course stores dA[l] under "dA" + str(l) ...
Frames of jaxbp, of Python and of installed packages are left out: only files the learner wrote
(or notebook cells) are shown, with the names on the failing line and their shapes.
"""

import ast
import builtins
import keyword
import os
import re
import types

import numpy as np

from jaxbp.checking.frames import is_learner_file, learner_frames  # noqa: F401
from jaxbp.course.standins import HELPER_NAMES


def describe(x):
    """One short phrase for a value: "ndarray (3, 64) float64", "dict with keys W1, b1", "tuple of 12"."""
    if isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype")):
        return f"{type(x).__name__} {tuple(x.shape)} {x.dtype}"
    if isinstance(x, dict):
        keys = ", ".join(map(str, list(x)[:14])) + (", ..." if len(x) > 14 else "")
        return f"dict with keys {keys}" if x else "empty dict"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of {len(x)}"
    if isinstance(x, (int, float, str, bool, np.generic)) or x is None:
        return f"{type(x).__name__} {x!r}"[:60]
    return type(x).__name__


def _names_on(line, frame):
    """'name: description' for the variables the source line reads, from the frame's locals (and globals)."""
    seen, parts = set(), []
    for name in re.findall(r"[A-Za-z_]\w*", line or ""):
        if name in seen or keyword.iskeyword(name) or hasattr(builtins, name):
            continue
        seen.add(name)
        if name in frame.f_locals:
            value = frame.f_locals[name]
        elif name in frame.f_globals and not callable(frame.f_globals[name]) \
                and not isinstance(frame.f_globals[name], types.ModuleType):
            value = frame.f_globals[name]
        else:
            continue
        if isinstance(value, types.ModuleType) or callable(value):
            continue
        parts.append(f"{name}: {describe(value)}")
    return parts[:8]


def explain(err, *, call=None, module=None, formats=()):
    """The learner-facing text for an exception raised in the learner's code (see the module docstring).

    module: the learner's globals (a dict), for the hint about a notebook's globals.
    """
    frames = learner_frames(err)
    lines = [f"your code raised {type(err).__name__}" + (f": {err}" if str(err) else " (no message)")]
    for summary, _ in frames:
        name = summary.filename if " [cell " in summary.filename else os.path.relpath(summary.filename)
        lines.append(f"  File \"{name}\", line {summary.lineno}, in {summary.name}")
        if summary.line:
            lines.append(f"    {summary.line.strip()}")
    if frames:
        names = _names_on(frames[-1][0].line, frames[-1][1])
        if names:
            lines.append("    where " + "; ".join(names))
    if call:
        lines.append(f"jaxbp called: {call}")
    lines += [f"hint: {h}" for h in hints(err, frames, module=module, formats=formats)]
    return "\n".join(lines)


def _asserted(line):
    """The expression of an `assert` line, or None."""
    try:
        node = ast.parse((line or "").strip()).body[0]
    except (SyntaxError, IndexError):
        return None
    return node if isinstance(node, ast.Assert) else None


def hints(err, frames, *, module=None, formats=()):
    """What to change, for the course's and NumPy 2's known pitfalls; [] when nothing specific fits."""
    msg, out = str(err), []
    line = frames[-1][0].line if frames else ""
    local = frames[-1][1].f_locals if frames else {}
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str):
        key = err.args[0]
        if re.fullmatch(r"dA\d+", key):
            have = sorted((v for v in local.values() if isinstance(v, dict)
                           and any(str(k).startswith("dA") for k in v)), key=len)
            keys = f" (your dict has {', '.join(k for k in have[-1] if str(k).startswith('dA'))})" if have else ""
            out.append("the course stores dA[l] under \"dA\" + str(l) (keys dA0 ... dA{L-1}, newer notebooks) or "
                       "\"dA\" + str(l + 1) (keys dA1 ... dAL, 2017-2019 notebooks); write and read it with the same "
                       f"one{keys}")
        elif re.fullmatch(r"[Wb]\d+|d[Wb]\d+", key):
            out.append(f"{key!r} is not in the dict: W1, b1 ... WL, bL number the layers from 1 to L; check the layer "
                       "index (L = len(parameters) // 2)")
    if isinstance(err, IndexError) and "out of range" in msg:
        seqs = {n: v for n, v in local.items() if isinstance(v, (list, tuple)) and n in (line or "")}
        for n, v in seqs.items():
            out.append(f"{n} holds {len(v)} entries, {n}[0] ... {n}[{len(v) - 1}]: layer l's is {n}[l - 1]")
        if not seqs:
            out.append("an index past the end: caches[l - 1] holds layer l's cache, for l = 1 ... L")
    sizes = re.findall(r"size of (?:corresponding boolean )?axis is (\d+)", msg)
    if "boolean index did not match" in msg and sizes:
        out.append(f"an array with {sizes[0]} row(s) masked by one with {sizes[-1]}: dA[l] and Z[l] both have n[l] "
                   "rows; this dA is from another layer (dAL, (n_y, m), fed to a hidden layer, or a layer index off "
                   "by one)")
    if "could not be broadcast" in msg:
        out.append("two arrays from different layers: dA[l], Z[l] and A[l] all have n[l] rows; check which layer "
                   "each one comes from (a dA from the wrong layer, or dAL fed to a hidden layer of another size)")
    if "not aligned" in msg or "mismatch in its core dimension" in msg:
        out.append("a matrix product whose inner sizes differ: dW = dZ @ A_prev.T, dA_prev = W.T @ dZ; a missing or "
                   "extra .T, or an array from another layer")
    if any(t in msg for t in ("0-dimensional arrays can be converted", "length-1 arrays can be converted",
                              "array with ndim > 0 to a scalar")):  # NumPy >= 2.4 raises; 1.25 to 2.3 warn
        out.append("NumPy 2 refuses float() or int() of an array with dimensions, even of size 1: use "
                   "float(np.squeeze(x)) or x.item()")
    if isinstance(err, AssertionError) and (node := _asserted(line)) is not None:
        src = ast.unparse(node.test)
        if "isinstance" in src and "float" in src:
            out.append("np.sum and np.squeeze return NumPy arrays (0-d or (1, 1)), and np.float32 is no float: "
                       "isinstance(x, float) is False for them; compute x = float(np.squeeze(x)) before the assert")
        elif ".shape" in src:
            out.append(f"the shapes in `{src}` differ (see above): each dX has the shape of X")
        else:
            out.append(f"`{src}` is False for the values above")
    if isinstance(err, NameError):
        name = getattr(err, "name", None) or (re.findall(r"'(\w+)'", msg) or [""])[0]
        where = (module or {}).get("__jaxbp_globals__", {}).get(name)
        if where:
            out.append(f"in the notebook, {name} is a global set in cell {where[0]} (`{where[2]}`); jaxbp runs only "
                       f"imports and definitions, so compute {name} inside the function (e.g. m = X.shape[1])")
        elif name in HELPER_NAMES:
            out.append(f"{name} is one of the course's helpers: import it (from dnn_utils import {name}) or define it")
        else:
            out.append(f"{name} is defined nowhere jaxbp loaded: define or import it in your file")
    if isinstance(err, ValueError) and ("values to unpack" in msg):
        out.append("the cache is not unpacked in the course's order: " + "; ".join(formats) if formats else
                   "the number of names on the left differs from the tuple's length")
    if isinstance(err, AttributeError) and "'tuple' object has no attribute" in msg:
        out.append("a tuple where an array belongs: a cache is unpacked first, e.g. linear_cache, activation_cache = "
                   "cache; A_prev, W, b = linear_cache")
    if isinstance(err, TypeError) and "NoneType" in msg:
        out.append("a function returned None: check that each of your functions ends with return")
    return out
