"""`jaxbp check TARGET`: load a learner's backward (or forward/backward pair) and print the checker's report."""

import argparse
import importlib
import importlib.util
import os
import sys

import jax
import numpy as np

from jaxbp import activations, course, shapes
from jaxbp.checking.checker import BackwardFnError, check, course_backward, random_problem


def load(target):
    """The backward_fn named by MODULE:FUNCTION, path/to/file.py:FUNCTION or MODULE:FORWARD,BACKWARD."""
    module_name, sep, function = target.rpartition(":")
    if not sep or not module_name or not function:
        raise ValueError(f"target must be MODULE:FUNCTION (or file.py:FUNCTION), got {target!r}")
    if module_name.endswith(".py") or os.sep in module_name:
        if not os.path.isfile(module_name):
            raise ValueError(f"no file {module_name!r}")
        spec = importlib.util.spec_from_file_location(os.path.basename(module_name)[:-3], module_name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # `jaxbp check mymodule:fn` finds mymodule.py in the current folder
        module = importlib.import_module(module_name)
    names = function.split(",")
    missing = [n for n in names if not callable(getattr(module, n, None))]
    if missing or len(names) > 2:
        raise ValueError(f"{module_name} has no function {missing[0] if missing else function!r}")
    fns = [getattr(module, n) for n in names]
    return fns[0] if len(fns) == 1 else course_backward(*fns)


def check_main(argv=None):
    """`jaxbp check TARGET [flags]`: check TARGET on a random problem; 0 if all ok, 1 if not, 2 on bad usage."""
    parser = argparse.ArgumentParser(prog="jaxbp check", description=check_main.__doc__)
    parser.add_argument("target", help="MODULE:FUNCTION or path/to/file.py:FUNCTION, a backward_fn(params, X, Y); "
                        "or MODULE:L_model_forward,L_model_backward (the course's pair)")
    parser.add_argument("--dims", default="4,5,3,1", help="layer_dims n_x,n_1,...,n_L")
    parser.add_argument("--m", type=int, default=64, help="number of examples")
    parser.add_argument("--hidden", default="relu", choices=activations.HIDDEN)
    parser.add_argument("--output", default="sigmoid", choices=activations.OUTPUTS)
    parser.add_argument("--placement", default="deferred", choices=shapes.PLACEMENTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fd", action="store_true", help="add finite differences as a second opinion")
    parser.add_argument("--params", choices=("layers", "course"), default=None,
                        help="pass params as a tuple of Layer or the course's dict "
                        "(default: layers; course for a pair)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = parser.parse_args(argv)
    try:
        layer_dims = tuple(int(n) for n in args.dims.split(","))
        backward_fn = load(args.target)
    except (ValueError, ImportError) as err:
        print(f"jaxbp check: {err}", file=sys.stderr)
        return 2
    params, X, Y = random_problem(jax.random.key(args.seed), layer_dims, m=args.m, hidden=args.hidden,
                                  output=args.output, dtype=np.dtype(args.dtype))
    if (args.params or ("course" if "," in args.target.rpartition(":")[2] else "layers")) == "course":
        params = course.to_course(params)
    try:
        report = check(backward_fn, params, X, Y, hidden=args.hidden, output=args.output, placement=args.placement,
                       fd=args.fd)
    except (BackwardFnError, ValueError, TypeError) as err:
        print(f"jaxbp check: {err}", file=sys.stderr)
        return 1
    print(report)
    return 0 if report.ok else 1
