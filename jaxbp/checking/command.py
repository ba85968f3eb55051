"""`jaxbp check TARGET`: load a learner's function(s) and print the checker's report.

    jaxbp check FILE.py:NAME | FILE.ipynb:NAME | MODULE:NAME | ...:FORWARD,BACKWARD  [flags]
A NAME the course uses (backward_propagation_n, L_model_backward, ..., see jaxbp.course.assignments)
gets the course's inputs; any other is jaxbp's generic backward_fn(params, X, Y) (or, as a pair,
L_model_forward/L_model_backward-style functions) on a random problem. Exit status:
    0  every gradient (and value) is right        2  bad usage of jaxbp (flags, file, name)
    1  some gradient is wrong                     3  the learner's code raised or cannot be called
JAX's persistent compilation cache lives in $JAXBP_CACHE_DIR or ~/.cache/jaxbp/jax (XDG_CACHE_HOME
respected), with XLA's quick CPU compilation; --no-cache or JAXBP_CACHE=0 turns both off.
"""

import argparse
import importlib
import os
import statistics
import sys
import time
from dataclasses import replace

import jax
import numpy as np

from jaxbp import activations, shapes
from jaxbp.checking.checker import BackwardFnError, check, course_backward, random_problem
from jaxbp.checking.layer_check import check_layer_target
from jaxbp.checking.layer_check.learner import BY_NAME
from jaxbp.checking.layer_check.problems import LAYERS
from jaxbp.course import assignments, frames, grading, notebook, standins
from jaxbp.course.assignments import LearnerError
from jaxbp.course.grading import UsageError

FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def load(target):
    """(functions, module, context lines) for FILE.py:NAME, FILE.ipynb:NAME, MODULE:NAME or ...:FORWARD,BACKWARD.

    Raises UsageError for a target that names nothing, LearnerError when loading the learner's file raises.
    """
    where, sep, names = target.rpartition(":")
    if not sep or not where or not names:
        raise UsageError(f"target must be FILE.py:FUNCTION, FILE.ipynb:FUNCTION or MODULE:FUNCTION, got {target!r}")
    context, used = [], []
    try:
        if where.endswith(".ipynb"):
            if not os.path.isfile(where):
                raise UsageError(f"no file {where!r}")
            module, notes = notebook.load_notebook(where)
            used = module.__jaxbp_standins__
            context += [f"notebook: {where}: imports and definitions only, no cell run"] + [f"notebook: {n}"
                                                                                             for n in notes]
        elif where.endswith(".py") or os.sep in where:
            if not os.path.isfile(where):
                raise UsageError(f"no file {where!r}")
            module, used = standins.load_source(where)
        else:
            with standins.course_imports(os.getcwd()) as used:  # `jaxbp check mymodule:fn` finds ./mymodule.py
                module = importlib.import_module(where)
    except UsageError:
        raise
    except ModuleNotFoundError as err:
        if err.name == where:
            raise UsageError(f"no module {where!r} (run jaxbp check from its folder, or give the .py path)") from None
        raise LearnerError(frames.explain(err), original=err) from None
    except Exception as err:  # the learner's file itself raised (a SyntaxError, a top-level statement)
        raise LearnerError(f"loading {where} failed:\n" + frames.explain(err), original=err) from None
    note = standins.standin_note(used, where)
    context += [note] if note else []
    fns = [getattr(module, n, None) for n in names.split(",")]
    missing = [n for n, f in zip(names.split(","), fns, strict=True) if not callable(f)]
    if missing or len(fns) > 2:
        raise UsageError(f"{where} has no function {missing[0] if missing else names!r}"
                         + (f" (it defines {', '.join(_functions(module))})" if missing else ""))
    return fns, module, context


def _functions(module):
    return [n for n, v in vars(module).items() if callable(v) and getattr(v, "__module__", None) == module.__name__]


def _fast_start(use_cache):
    """The persistent compilation cache and XLA's quick CPU compilation, for this process (the CLI only)."""
    if not use_cache:
        return
    from jax._src import xla_bridge

    if not xla_bridge.backends_are_initialized():
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_XLA}".strip()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    jax.config.update("jax_compilation_cache_dir", os.environ.get("JAXBP_CACHE_DIR") or
                      os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(base, "jaxbp", "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _parser():
    p = argparse.ArgumentParser(prog="jaxbp check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="FILE.py:FUNCTION, FILE.ipynb:FUNCTION, MODULE:FUNCTION, or ...:FORWARD,BACKWARD")
    p.add_argument("--assignment", choices=assignments.NAMES, help="the course function TARGET is (when renamed)")
    p.add_argument("--dims", default=None, help="layer_dims n_x,n_1,...,n_L (default: the course's, or 4,5,3,1)")
    p.add_argument("--m", type=int, default=64, help="number of examples (default 64)")
    p.add_argument("--seed", type=int, default=1, help="np.random.default_rng seed; the dropout masks' seed (1)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--lambd", type=float, default=None, help="L2 strength λ (course: 0.7 for its L2 functions)")
    p.add_argument("--keep-prob", type=float, default=None, help="dropout keep_prob (course: 0.86)")
    p.add_argument("--hidden", default=None, choices=activations.HIDDEN, help="generic form: hidden g (relu)")
    p.add_argument("--output", default=None, choices=activations.OUTPUTS, help="generic form: output g (sigmoid)")
    p.add_argument("--placement", default="deferred", choices=shapes.PLACEMENTS)
    p.add_argument("--params", choices=("layers", "course"), default=None,
                   help="generic form: params as Layers or the course's dict (default layers; course for a pair)")
    p.add_argument("--fd", action="store_true", help="add finite differences as a second opinion")
    p.add_argument("--time", action="store_true", help="print the time to verdict and of a repeated in-process check")
    p.add_argument("--no-cache", action="store_true", help="no persistent compilation cache (also JAXBP_CACHE=0)")
    p.add_argument("--layer", choices=LAYERS, default=None,
                   help="a layer backward (conv, pool, RNN, LSTM, batch norm); recognised from the course's names")
    return p


def _layer_names(fns):
    """True when the functions are layer code (conv_backward, lstm_backward, ...), by the course's names."""
    names = [getattr(f, "__name__", "") for f in fns]
    return any(n == course or n.endswith("_" + course) for n in names for course in BY_NAME)


def check_main(argv=None):
    """`jaxbp check TARGET [flags]`: 0 all right, 1 a gradient is wrong, 2 bad usage, 3 the learner's code raised."""
    entered = time.perf_counter()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return 0 if exit_.code == 0 else 2
    _fast_start(not args.no_cache and os.environ.get("JAXBP_CACHE", "1") != "0")
    try:
        dims = tuple(int(n) for n in args.dims.split(",")) if args.dims else None
        fns, module, context = load(args.target)
        if args.layer or _layer_names(fns):
            def run_layer():
                return check_layer_target(module, [f.__name__ for f in fns], layer=args.layer, seed=args.seed,
                                          dtype=args.dtype)
            code, text = run_layer()
            print(text, file=sys.stderr if code == 3 else sys.stdout)
            if args.time and code in (0, 1):
                _print_times(entered, time.perf_counter(), run_layer)
            return code
        run = _runner(fns, dims, args, context)
        report = run()
    except UsageError as err:
        print(f"jaxbp check: {err}", file=sys.stderr)
        return 2
    except LearnerError as err:
        print(f"jaxbp check: {err}", file=sys.stderr)
        return 3
    except (BackwardFnError, ValueError, TypeError) as err:
        print(f"jaxbp check: {err}", file=sys.stderr)
        return 1 if isinstance(err, BackwardFnError) else 2
    print(report)
    if args.time:
        _print_times(entered, time.perf_counter(), run)
    return 0 if report.ok else 1


def _runner(fns, dims, args, context):
    """A function that runs the check once and returns its Report (called again by --time)."""
    if args.assignment or assignments.recognise(fns) is not None:
        kw = dict(assignment=args.assignment, dims=dims, m=args.m, seed=args.seed, dtype=np.dtype(args.dtype),
                  lambd=args.lambd, keep_prob=args.keep_prob, placement=args.placement, fd=args.fd, context=context)
        return lambda: grading.check(*fns, **kw)
    hidden, output = args.hidden or "relu", args.output or "sigmoid"
    fn = fns[0] if len(fns) == 1 else course_backward(*fns)
    as_course = (args.params or ("course" if len(fns) == 2 else "layers")) == "course"

    def run():
        params, X, Y = random_problem(args.seed, dims or (4, 5, 3, 1), m=args.m, hidden=hidden, output=output,
                                      dtype=np.dtype(args.dtype))
        if as_course:
            params = {f"{q}{l}": getattr(p, q) for l, p in enumerate(params, start=1) for q in "Wb"}
        try:
            report = check(fn, params, X, Y, hidden=hidden, output=output, placement=args.placement, fd=args.fd,
                           lambd=args.lambd or 0.0, keep_prob=1.0 if args.keep_prob is None else args.keep_prob)
        except BackwardFnError as err:
            if err.__cause__ is None:
                raise
            call = assignments.call_text(getattr(fn, "__name__", "backward_fn"), {"params": params, "X": X, "Y": Y})
            raise LearnerError(frames.explain(err.__cause__, call=call, module=getattr(fn, "__globals__", None)),
                               original=err.__cause__) from None
        return replace(report, context=(*context, *report.context))

    return run


def _process_seconds():
    """Seconds since this process started (Linux /proc), or None."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _print_times(entered, verdict, run, repeats=20):
    """Time to verdict (from process start where known) and the median of repeated in-process checks."""
    age, now = _process_seconds(), time.perf_counter()
    repeated = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        repeated.append(time.perf_counter() - t)
    since_start = "" if age is None else f"{age - (now - verdict):.2f} s from process start (10 ms resolution), "
    print(f"time: verdict {since_start}{verdict - entered:.2f} s in jaxbp check after imports; repeated "
          f"in-process check: median {1e3 * statistics.median(repeated):.1f} ms over {repeats}; CPU "
          f"{time.process_time():.2f} s in all; cache {jax.config.jax_compilation_cache_dir or 'off'}")
