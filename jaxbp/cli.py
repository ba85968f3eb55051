"""The `jaxbp` command: thin; it parses a sub-command and calls the library.

    jaxbp demo                          train a tiny net and verify its backprop (the default)
    jaxbp check MODULE:FUNCTION [...]   diagnose a hand-written backprop (see jaxbp.check)
    jaxbp experiment NAME [--quick]     run one experiment from experiments/
    jaxbp report [--quick]              run or reuse every experiment, write the Markdown report
    jaxbp bench [--quick]               the speed benchmark (experiments/bench.py)
"""

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from jaxbp.checking.command import check_main

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def load_experiment(name):
    """Import experiments/<name>.py from the source checkout (experiments are not installed)."""
    path = EXPERIMENTS_DIR / f"{name}.py"
    if not path.is_file():
        available = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.py") if not p.stem.startswith("_"))
        if not EXPERIMENTS_DIR.is_dir():
            raise SystemExit(f"jaxbp: experiments/ not found beside the package ({EXPERIMENTS_DIR}); "
                             "install from a source checkout with `pip install -e .`")
        raise SystemExit(f"jaxbp: no experiment {name!r}; available: {', '.join(available)}")
    if str(EXPERIMENTS_DIR.parent) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS_DIR.parent))
    spec = importlib.util.spec_from_file_location(f"experiments.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def demo(argv):
    """Train the planar 'flower' net for a few hundred steps and verify its backprop against jax.grad."""
    from jaxbp import demo as demo_module

    return demo_module.main(argv)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="jaxbp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="demo", choices=["demo", "check", "experiment", "report", "bench"])
    args, rest = parser.parse_known_args(argv[:1])
    rest = argv[1:]
    if args.command == "demo":
        return demo(rest)
    if args.command == "check":
        return check_main(rest)
    if args.command == "experiment":
        if not rest or rest[0].startswith("-"):
            parser.error("usage: jaxbp experiment NAME [--quick] [flags]")
        return load_experiment(rest[0]).main(rest[1:])
    if args.command == "report":
        return load_experiment("report").main(rest)
    return load_experiment("bench").main(rest)


if __name__ == "__main__":
    sys.exit(main())
