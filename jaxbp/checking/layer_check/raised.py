"""When a learner's function raises: its own frames (jaxbp's, Python's and packages' hidden), the exact call
jaxbp made with the arguments' shapes, and a hint for the course's and NumPy 2's known pitfalls:
float(b) of a size-1 array, the empty slice X[pad:-pad] at pad = 0, notebook globals read inside a
function (Wf, Wy: from parameters), the course's cache formats, and the course's signatures.
"""

import os
import re

from jaxbp.checking.frames import is_learner_file, learner_frames  # noqa: F401
from jaxbp.checking.layer_check.problems import family

SHAPE_SYMBOLS = ("m", "n_H_prev", "n_W_prev", "n_C_prev", "n_C", "n_H", "n_W", "n_x", "n_a", "n_y", "T_x", "N", "D")
COURSE_HELPERS = ("zero_pad", "conv_single_step", "create_mask_from_window", "distribute_value", "sigmoid", "softmax",
                  "rnn_cell_forward", "rnn_cell_backward", "lstm_cell_forward", "lstm_cell_backward")


def describe(x, depth=1):
    """One short phrase for a value: "ndarray (3, 4, 6, 2) float64", "dict with keys Wax, Waa", "tuple of 4 (...)"."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{type(x).__name__} {tuple(x.shape)} {x.dtype}"
    if isinstance(x, dict):
        if all(isinstance(v, (int, float, str)) for v in x.values()):
            return repr(x)
        return f"dict with keys {', '.join(map(str, x))}" if x else "empty dict"
    if isinstance(x, (list, tuple)):
        if depth > 0 and len(x) <= 10:
            return f"{type(x).__name__} of {len(x)} ({', '.join(describe(v, depth - 1) for v in x)})"
        return f"{type(x).__name__} of {len(x)}"
    return f"{type(x).__name__} {x!r}"[:60] if isinstance(x, (int, float, str, bool)) or x is None else type(x).__name__




def call_text(fn, course_name, args, kwargs):
    """'conv_backward(dZ=ndarray (3, 4, 6, 4) float64, cache=tuple of 4 (...))'."""
    parts = [f"{k}={describe(v)}" for k, v in args.items()] + [f"{k}={v!r}" for k, v in kwargs.items()]
    name = getattr(fn, "__name__", course_name)
    return f"{name}({', '.join(parts)})"


def explain(err, fn, course_name, args, kwargs, context):
    """The learner-facing text for an exception raised by (or when calling) the learner's fn."""
    frames = learner_frames(err)
    name = getattr(fn, "__name__", course_name)
    head = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    lines = [f"your code raised {head}" if frames else f"{name} could not be called: {head}"]
    for summary, _ in frames:
        where = summary.filename if " [cell " in summary.filename else os.path.relpath(summary.filename)
        lines.append(f"  File \"{where}\", line {summary.lineno}, in {summary.name}")
        if summary.line:
            lines.append(f"    {summary.line.strip()}")
    lines.append(f"jaxbp called: {call_text(fn, course_name, args, kwargs)}")
    if context.get("case"):
        lines.append(f"  in the case {context['case']}")
    lines += [f"hint: {h}" for h in hints(err, frames, fn, course_name, args, kwargs, context)]
    return "\n".join(lines)


def hints(err, frames, fn, course_name, args, kwargs, context):
    """What to change, for the course's and NumPy 2's known pitfalls; [] when nothing specific fits."""
    msg, out = str(err), []
    line = frames[-1][0].line or "" if frames else ""
    local = frames[-1][1].f_locals if frames else {}
    fam, dims = family(context["layer"]), context.get("dims", {})
    sig = context["signature"]
    if not frames and isinstance(err, TypeError):
        course_args = sig.forward_args if course_name == sig.forward else sig.backward_args
        mode = ", mode=...)" if fam == "pool" else ")"
        out.append(f"jaxbp calls it as the course does: {course_name}({', '.join(course_args)}{mode}")
    if re.search(r"only (0-dimensional|length-1|size-1) arrays can be converted", msg):
        used = re.findall(r"\b(?:float|int)\(\s*([A-Za-z_][\w\[\]\"', :]*)\)", line)
        what = used[0] if used else "the array"
        shape = getattr(local.get(what), "shape", None)
        shown = f" ({what} is {tuple(shape)})" if shape is not None else ""
        out.append(f"NumPy 2 refuses float() or int() of an array with dimensions, even of size 1{shown}: write "
                   f"{what}.item() or float(np.squeeze({what}))")
    pad_slice = re.search(r"\bpad\s*:\s*-\s*pad\b", line) or ("could not broadcast input array from shape (0" in msg)
    if fam == "conv" and dims.get("pad") == 0 and pad_slice:
        out.append("at pad = 0, X[pad:-pad] is X[0:-0] = X[0:0], which is empty: unpad with X[pad:pad + n_H_prev, "
                   "pad:pad + n_W_prev, :] (the course's hint [pad:-pad] works only for pad > 0)")
    if isinstance(err, NameError):
        missing = getattr(err, "name", None) or (re.findall(r"'(\w+)'", msg) or [""])[0]
        params = context.get("parameter_keys", ())
        cell = (frames[-1][1].f_globals.get("__jaxbp_globals__") or {}).get(missing) if frames else None
        if cell:  # jaxbp.course.notebook's loader records the notebook's top-level assignments
            out.append(f"in the notebook, {missing} is a global set in cell {cell[0]} (`{cell[2]}`); jaxbp runs only "
                       "imports and definitions")
        if missing in params:
            name = getattr(fn, "__name__", course_name)
            out.append(f"{missing} is read as a global (a notebook variable, set only where the notebook ran): inside "
                       f"{name} take it from the dict, {missing} = parameters[\"{missing}\"]")
        elif missing in ("stride", "pad", "f"):
            out.append(f"{missing} comes from the hyperparameters: {missing} = hparameters[\"{missing}\"]")
        elif missing in SHAPE_SYMBOLS:
            out.append(f"{missing} is read as a global: compute it from the arrays' shapes inside the function "
                       f"(e.g. (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape, or n_x, m = xt.shape)")
        elif missing in COURSE_HELPERS:
            out.append(f"{missing} is one of the course's helpers: define it in the same file (jaxbp loads only that "
                       "file) or import it")
        else:
            out.append(f"{missing} is defined nowhere jaxbp loaded: define or import it in your file")
    if isinstance(err, KeyError) and err.args and err.args[0] in ("stride", "pad", "f"):
        keys = "{'f', 'stride'}" if fam == "pool" else "{'stride', 'pad'}"
        out.append(f"{fam}'s hparameters hold {keys}")
    if isinstance(err, ValueError) and "values to unpack" in msg:
        ours = "" if context.get("forward_given") else (" (jaxbp built it with jaxbp.layers; if your backward reads "
                                                        "your own cache, check your forward with it)")
        out.append(f"the course's cache is {sig.cache}{ours}")
    if isinstance(err, AttributeError) and "'tuple' object has no attribute" in msg:
        out.append(f"a tuple where an array belongs: unpack the cache first, {sig.cache}")
    if isinstance(err, TypeError) and "NoneType" in msg:
        out.append("a function returned None: check that each of your functions ends with return")
    return out
