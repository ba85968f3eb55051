"""The `jaxbp` command: thin; it parses a sub-command and calls the library or an experiment.

    jaxbp [demo] [flags]                  train a tiny net and verify its backprop (the default)
    jaxbp check TARGET [flags]            grade a hand-written backprop (jaxbp.checking.command)
    jaxbp experiment NAME [--quick] [..]  run one experiment; `jaxbp experiment --help` lists them
    jaxbp report [--quick] [--only ..]    run or reuse every experiment, write the Markdown report
    jaxbp bench [--quick]                 the training speed benchmark
    jaxbp experiment bench_check          time to verdict of `jaxbp check`, cold and warm (bench_layers: conv, LSTM)

Every sub-command has its own --help (`jaxbp experiment NAME --help`: that experiment's flags).
Exit status: 0 done, 1 a check found a wrong gradient, 2 a usage mistake (told in one line on
stderr, never as a traceback), 3 the learner's code raised (jaxbp check). Results go to
./results/ (./results/quick/ with --quick).

The experiments are the package jaxbp_experiments: the repository's experiments/ folder, which
the wheel installs under that name. Run from a source checkout (`pip install -e .`, or the
checkout on sys.path), the experiments/ folder beside this package is used instead, as the
package `experiments` that the tests import, so an edit there needs no reinstall.
"""

import argparse
import ast
import importlib
import importlib.util
import math
import pkgutil
import sys
from pathlib import Path

from jaxbp.checking.command import check_main

COMMANDS = {
    "demo": "train the planar 'flower' net by hand-written backprop and verify it against jax.grad (the default)",
    "check": "grade a hand-written backprop: jaxbp check MODULE:FUNCTION (see jaxbp check --help)",
    "experiment": "run one experiment: jaxbp experiment NAME [--quick] (jaxbp experiment --help lists them)",
    "report": "run or reuse every experiment and write results/report.md",
    "bench": "the training speed benchmark against NumPy, PyTorch and jax.grad (jaxbp check's time to verdict: "
             "jaxbp experiment bench_check)",
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that tells a usage mistake in one line on stderr and exits 2 (no usage dump, no traceback)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def count(least):
    """An argparse type: an integer >= least."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, got {text}")
        return value
    return parse


def positive_float(text):
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


# ---------------------------------------------------------------- the experiments' package
def experiments_package():
    """experiments/ of the source checkout this jaxbp comes from, else the installed jaxbp_experiments."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "experiments" / "_common.py").is_file():
        if str(checkout) not in sys.path:
            sys.path.insert(0, str(checkout))
        package = importlib.import_module("experiments")
        if Path(package.__file__).resolve().parent != checkout / "experiments":
            raise SystemExit(f"jaxbp: another package named 'experiments' ({package.__file__}) hides "
                             f"{checkout / 'experiments'}; run jaxbp from another folder")
        return package
    return importlib.import_module("jaxbp_experiments")


def experiment_names(package):
    """The runnable modules of the experiments' package: every public one but the report."""
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
                  and m.name != "report")


def first_line(package, name):
    """The first line of a module's docstring, read from its source (nothing is imported)."""
    spec = importlib.util.find_spec(f"{package.__name__}.{name}")
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def load(name):
    """Import one module of the experiments' package (experiment, report or bench)."""
    package = experiments_package()
    return importlib.import_module(f"{package.__name__}.{name}")


# ---------------------------------------------------------------- sub-commands
def demo(argv):
    """`jaxbp demo`: jaxbp.demo's own parser, after a first look at its numbers here.

    The first look applies demo's own rules, only so that a bad value is told in one line (demo's
    argparse prints its usage too); --help and every other flag are demo's.
    """
    flags = ArgumentParser(prog="jaxbp demo", add_help=False)
    flags.add_argument("--n-h", type=count(1))
    flags.add_argument("--iterations", type=count(0))  # 0: verify at the initial params
    flags.add_argument("--learning-rate", type=positive_float)
    flags.parse_known_args(argv)
    from jaxbp import demo as demo_module

    return demo_module.main(argv)


def experiment(argv):
    """`jaxbp experiment NAME [flags]`: NAME's main(flags); NAME's own parser answers NAME --help."""
    package = experiments_package()
    names = experiment_names(package)
    width = max(map(len, names), default=0)
    listing = "\n".join(f"  {n.ljust(width)}  {first_line(package, n)}" for n in names)
    parser = ArgumentParser(prog="jaxbp experiment", usage="jaxbp experiment NAME [--quick] [flags]",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description="Run one experiment; results go to results/NAME/ (results/quick/NAME/ with "
                                        "--quick).\n`jaxbp experiment NAME --help` shows its flags.",
                            epilog=f"experiments:\n{listing}")
    parser.add_argument("name", metavar="NAME", choices=names, help="one of the experiments below")
    if argv[:1] in (["-h"], ["--help"]):
        parser.print_help()
        return 0
    if not argv or argv[0].startswith("-"):
        parser.error(f"the experiment NAME comes first; choose from {', '.join(names)}")
    parser.parse_args(argv[:1])  # an unknown NAME: one line naming the valid ones
    return importlib.import_module(f"{package.__name__}.{argv[0]}").main(argv[1:])


def parser():
    """The top-level parser: it names the sub-commands (each parses its own flags)."""
    top = ArgumentParser(prog="jaxbp", description=__doc__.split("\n\n")[0],
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="`jaxbp COMMAND --help` shows a command's flags.")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in COMMANDS.items():
        commands.add_parser(name, help=text, add_help=False)
    return top


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["demo", *argv]  # plain `jaxbp [flags]` is the demo
    parser().parse_known_args(argv[:1])  # --help, or an unknown command: one line naming the commands
    command, rest = argv[0], argv[1:]
    try:
        if command == "demo":
            return demo(rest)
        if command == "check":
            return check_main(rest)
        if command == "experiment":
            return experiment(rest)
        return load(command).main(rest)  # report, bench
    except KeyboardInterrupt:
        print(f"jaxbp {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
