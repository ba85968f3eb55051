"""Benchmark: how long does a learner wait for `jaxbp check`'s verdict, cold, warm and with the cache off?

Question  For every course function the checker knows (planar, gradient checking, L2, dropout, the
          C1W4 deep net and its one-layer steps, and the conv and LSTM layer pairs), run as a learner
          runs it, `jaxbp check FILE:NAME` in a fresh process: is the verdict there within 2.5 s with
          an empty compilation cache (cold), within 1.5 s with the cache the cold run filled (warm),
          and does a repeated in-process check take at most 50 ms?
Method    The learner code is correct, in the course's exact signatures (experiments/_learner/, and a
          notebook made from _learner/gradient_checking.py at run time). Each check is a subprocess
          `python -m jaxbp.cli check FILE:NAME --time` with stdout unbuffered: "verdict" is the wall
          clock from spawn to the first byte of the report (what the learner waits for; Python's start
          and every import included), "exit" from spawn to exit (plus --time's 20 repeated checks and
          the interpreter's shutdown), CPU the child's user + system time (getrusage RUSAGE_CHILDREN,
          repeats included). Cold uses a new empty $JAXBP_CACHE_DIR, warm the same folder again, "no
          cache" runs with --no-cache (an empty folder that must stay empty). The in-process time is
          the median of --time's 20 repeated checks in the warm process.
          Every check must exit 0 and say OK, or the benchmark stops with its output. `jaxbp check
          --help`, run before each target (and once untimed first, except with --quick, to put the
          imports in the OS's file cache), gives the cost of Python and the imports alone. Targets
          are interleaved (imports, cold, warm, no cache for each), `repeats` rounds, medians
          reported. The load average is read at the start and the end: on a busy machine the wall
          clock exceeds the CPU time.
Run       jaxbp experiment bench_check [--quick] [--targets NAME ...] [--repeats N] [--out DIR]
          (results/bench_check/, --quick: results/quick/bench_check/)
Expected  On a quiet 2-core machine: verdict <= 2.5 s cold and <= 1.5 s warm for every target, and
          <= 50 ms in-process; without the cache about the cold time. Where the wall clock is over
          a target and the CPU time is not, the machine was busy (see the load average).
"""

import ast
import dataclasses
import json
import os
import re
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

import jaxbp

from . import _common
from ._bench_parts import cpu

NAME = "bench_check"
LEARNER = Path(__file__).resolve().parent / "_learner"
NOTEBOOK = "gradient_checking.ipynb"  # made from _learner/gradient_checking.py by notebook()
TARGETS = {  # key: (file in _learner, FUNCTION or FORWARD,BACKWARD)
    "forward_propagation": ("planar.py", "forward_propagation"),
    "backward_propagation": ("planar.py", "backward_propagation"),
    "forward_propagation_n": ("gradient_checking.py", "forward_propagation_n"),
    "backward_propagation_n": ("gradient_checking.py", "backward_propagation_n"),
    "backward_propagation_n.ipynb": (NOTEBOOK, "backward_propagation_n"),
    "backward_propagation_with_regularization": ("regularization.py", "backward_propagation_with_regularization"),
    "backward_propagation_with_dropout": ("dropout.py", "backward_propagation_with_dropout"),
    "L_model_forward": ("deep.py", "L_model_forward"),
    "L_model_backward": ("deep.py", "L_model_backward"),
    "linear_backward": ("deep.py", "linear_backward"),
    "linear_activation_backward": ("deep.py", "linear_activation_backward"),
    "relu_backward": ("deep.py", "relu_backward"),
    "sigmoid_backward": ("deep.py", "sigmoid_backward"),
    "conv_backward": ("conv.py", "conv_forward,conv_backward"),
    "lstm_backward": ("lstm.py", "lstm_forward,lstm_backward"),
}
LAYER_TARGETS = ("conv_backward", "lstm_backward")
GOALS = {"cold": 2.5, "warm": 1.5, "in_process_ms": 50.0}  # issue 10, point 6
MODES = ("cold", "warm", "off")  # "off": --no-cache
TIME_LINE = re.compile(r"time: verdict (?:(?P<since_start>[\d.]+) s from process start[^,]*, )?(?P<in_check>[\d.]+) s "
                       r"in jaxbp check after imports; repeated in-process check: median (?P<in_process_ms>[\d.]+) ms "
                       r"over (?P<repeats>\d+); CPU (?P<cpu>[\d.]+) s in all; cache (?P<cache>.+)$", re.M)


@dataclasses.dataclass(frozen=True)
class Config:
    """Time to verdict of `jaxbp check FILE:NAME` in a fresh process, cold, warm and without the compilation cache."""

    targets: tuple = tuple(TARGETS)
    repeats: int = 3  # fresh processes per target and mode (median reported)
    timeout: float = 300.0  # seconds one check may take before the benchmark stops
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""
    CHOICES = {"targets": tuple(TARGETS)}

    @classmethod
    def quick(cls):
        """One target, one round: a smoke test (its timings mean little)."""
        return cls(mode="quick", targets=("backward_propagation_n",), repeats=1)


class CheckFailed(RuntimeError):
    """A check did not exit 0 with an OK verdict: the learner code or the checker is wrong, and no time counts."""


def loadavg():
    """The 1, 5 and 15 minute load averages (/proc/loadavg), or None where there is none."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def notebook(source, path):
    """Write the .py learner file source as a Jupyter notebook: an import cell, one cell per function, one call."""
    text = Path(source).read_text()
    tree = ast.parse(text)
    cells = [{"cell_type": "markdown", "metadata": {}, "source": [f"# {Path(source).stem}: a learner's notebook"]}]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
               "source": ast.get_source_segment(text, node)} for node in tree.body
              if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    cells.append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],  # never run by jaxbp
                  "source": "gradients = backward_propagation_n(X, Y, cache)"})
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    Path(path).write_text(json.dumps(nb, indent=1))


def _environment(cache_dir):
    """The child's environment: the parent's, this jaxbp first on the path, the cache in cache_dir, unbuffered."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAXBP_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    root = str(Path(jaxbp.__file__).resolve().parent.parent)  # the jaxbp this benchmark imported, not another
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    env["JAXBP_CACHE_DIR"] = str(cache_dir)
    env["PYTHONUNBUFFERED"] = "1"  # the report's first byte leaves the child when it is printed
    return env


def timed_process(argv, env, cwd, timeout):
    """Run argv; {rc, stdout, stderr, verdict_s (spawn to first stdout byte), exit_s, cpu_s (the child's)}."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    out, err, first = [], [], None
    streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    try:
        while streams:
            left = start + timeout - time.perf_counter()
            if left <= 0:
                raise CheckFailed(f"{' '.join(argv[3:])} took over {timeout:g} s")
            ready, _, _ = select.select(list(streams), [], [], left)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    del streams[fd]
                    continue
                if fd == proc.stdout.fileno() and first is None:
                    first = time.perf_counter()
                streams[fd].append(chunk)
        rc = proc.wait(timeout=max(start + timeout - time.perf_counter(), 1.0))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    end = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = {name: b"".join(chunks).decode(errors="replace") for name, chunks in (("stdout", out), ("stderr", err))}
    return {"rc": rc, **text, "verdict_s": (first or end) - start, "exit_s": end - start,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def check_once(target, path, names, mode, cache_dir, timeout, cwd):
    """One `jaxbp check PATH:NAMES --time` in mode ("cold", "warm", "off"); its record. CheckFailed unless OK."""
    argv = [sys.executable, "-m", "jaxbp.cli", "check", f"{path}:{names}", "--time"]
    argv += ["--no-cache"] if mode == "off" else []
    got = timed_process(argv, _environment(cache_dir), cwd, timeout)
    said = f"jaxbp check {path}:{names} ({mode}) exited {got['rc']}:\n{got['stdout']}{got['stderr']}"
    if got["rc"] != 0 or "result: OK" not in got["stdout"]:
        raise CheckFailed(said)
    line = TIME_LINE.search(got["stdout"])
    if line is None:
        raise CheckFailed(f"no time line in the output of {said}")
    if line is not None and (line["cache"] == "off") != (mode == "off"):
        raise CheckFailed(f"the cache was {line['cache']!r} in mode {mode}: {said}")
    cache_files = sum(len(files) for _, _, files in os.walk(cache_dir))
    if mode == "off" and cache_files:
        raise CheckFailed(f"--no-cache wrote {cache_files} files into {cache_dir}")

    def as_float(key):
        return float(line[key]) if line is not None and line[key] is not None else None

    return {"target": target, "mode": mode, **{k: got[k] for k in ("verdict_s", "exit_s", "cpu_s")},
            "jaxbp_since_start_s": as_float("since_start"), "jaxbp_in_check_s": as_float("in_check"),
            "in_process_ms": as_float("in_process_ms"), "cache_files": cache_files}


def imports_alone(cwd, timeout):
    """{wall_s, cpu_s} of `jaxbp check --help`: Python's start and every import jaxbp check makes, nothing checked."""
    got = timed_process([sys.executable, "-m", "jaxbp.cli", "check", "--help"], _environment(Path(cwd, "none")), cwd,
                        timeout)
    if got["rc"] != 0:
        raise CheckFailed(f"jaxbp check --help exited {got['rc']}:\n{got['stderr']}")
    return {"wall_s": got["exit_s"], "cpu_s": got["cpu_s"]}


def _median(records, key):
    values = [r[key] for r in records if r[key] is not None]
    return statistics.median(values) if values else None


def summarise(target, records, imports):
    """One row per target: medians per mode, of the imports alone next to it, and which goals were met."""
    row = {"target": target, "file": TARGETS[target][0], "names": TARGETS[target][1],
           "imports_wall_s": _median(imports, "wall_s"), "imports_cpu_s": _median(imports, "cpu_s")}
    for mode in MODES:
        mine = [r for r in records if r["mode"] == mode]
        for key in ("verdict_s", "exit_s", "cpu_s", "jaxbp_since_start_s"):
            row[f"{mode}_{key}"] = _median(mine, key)
    row["in_process_ms"] = _median([r for r in records if r["mode"] == "warm"], "in_process_ms")
    row["cold_cache_files"] = _median([r for r in records if r["mode"] == "cold"], "cache_files")
    missed = [what for what, value, goal in (("cold", row["cold_verdict_s"], GOALS["cold"]),
                                             ("warm", row["warm_verdict_s"], GOALS["warm"]),
                                             ("in-process", row["in_process_ms"], GOALS["in_process_ms"]))
              if value is not None and value > goal]
    row["met"] = not missed
    row["missed"] = missed
    return row


def run(cfg, log=None):
    """Every check cfg.repeats times in each mode; returns {"rows", "runs", "imports", "load", ...} (no files)."""
    log = log or (lambda text: None)
    targets = list(dict.fromkeys(cfg.targets))
    load_start, started = loadavg(), time.perf_counter()
    runs, imports = [], []
    with tempfile.TemporaryDirectory(prefix="jaxbp-bench-check-") as tmp:
        tmp = Path(tmp)
        notebook(LEARNER / "gradient_checking.py", tmp / NOTEBOOK)
        if cfg.mode != "quick":
            imports_alone(tmp, cfg.timeout)  # untimed: puts Python's and jax's files in the OS's file cache
        for r in range(cfg.repeats):
            for target in targets:
                file, names = TARGETS[target]
                path = tmp / file if file == NOTEBOOK else LEARNER / file
                cache, off = tmp / f"cache-{r}-{target}", tmp / f"off-{r}-{target}"
                cache.mkdir()
                off.mkdir()
                imports.append({"target": target, "round": r, **imports_alone(tmp, cfg.timeout)})
                for mode in MODES:
                    record = check_once(target, path, names, mode, off if mode == "off" else cache, cfg.timeout, tmp)
                    runs.append({**record, "round": r})
                    log(f"round {r + 1}/{cfg.repeats} {target} {mode}: verdict {record['verdict_s']:.2f} s, "
                        f"CPU {record['cpu_s']:.2f} s")
                shutil.rmtree(cache)
                shutil.rmtree(off)
    name, flags = cpu()
    rows = [summarise(t, [x for x in runs if x["target"] == t], [x for x in imports if x["target"] == t])
            for t in targets]
    return {"rows": rows, "runs": runs, "imports": imports,
            "imports_alone": {k: statistics.median(x[k] for x in imports) for k in ("wall_s", "cpu_s")},
            "load": {"start": load_start, "end": loadavg()}, "seconds": time.perf_counter() - started,
            "goals": GOALS, "repeats": cfg.repeats, "mode": cfg.mode,
            "machine": {"cpu_model": name, "vector_flags": flags, "cpu_count": os.cpu_count(), "jax": jax.__version__,
                        "python": sys.version.split()[0]}}


def _s(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(result):
    m, load = result["machine"], result["load"]
    loads = " → ".join(", ".join(f"{x:.2f}" for x in v) if v else "unknown" for v in (load["start"], load["end"]))
    lines = [f"# jaxbp check: time to verdict ({result['mode']})", "",
             f"Machine: {m['cpu_model'] or 'unknown CPU'} ({' '.join(m['vector_flags']) or 'no AVX flags found'}), "
             f"{m['cpu_count']} cores; jax {m['jax']}, Python {m['python']}. Load average (1, 5, 15 min) at the start "
             f"and the end: {loads}.", "",
             f"Seconds, median of {result['repeats']} fresh processes each: verdict = spawn to the report's first byte "
             "(the learner's wait), CPU = the process's user + system time (with --time's 20 repeats). Cold: empty "
             "compilation cache; warm: the cache the cold run filled; no cache: --no-cache. In-process: median of 20 "
             "repeated checks in the warm process. Imports alone: `jaxbp check --help` "
             "run just before each target's cold run (Python's start and every import, nothing checked). Goals: cold ≤ "
             f"{GOALS['cold']} s, warm ≤ {GOALS['warm']} s, in-process ≤ {GOALS['in_process_ms']:g} ms.", "",
             "| target | form | cold verdict | cold CPU | warm verdict | warm CPU | no cache verdict | no cache CPU "
             "| imports alone | in-process ms | goals met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        form = "CLI, .ipynb" if r["file"].endswith(".ipynb") else "CLI, .py" + (" pair" if "," in r["names"] else "")
        met = "yes" if r["met"] else "NO (" + ", ".join(r["missed"]) + ")"
        lines.append(f"| {r['file']}:{r['names']} | {form} | {_s(r['cold_verdict_s'])} | {_s(r['cold_cpu_s'])} | "
                     f"{_s(r['warm_verdict_s'])} | {_s(r['warm_cpu_s'])} | {_s(r['off_verdict_s'])} | "
                     f"{_s(r['off_cpu_s'])} | {_s(r['imports_wall_s'])} | {_s(r['in_process_ms'], 1)} | {met} |")
    alone, met = result["imports_alone"], sum(r["met"] for r in result["rows"])
    lines += ["", f"Imports alone, median over every target: {alone['wall_s']:.2f} s wall, {alone['cpu_s']:.2f} s CPU. "
              f"{met} of {len(result['rows'])} targets met every goal; the benchmark took {result['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME, needs=())
    try:
        result = run(cfg, log=lambda text: print(text, file=sys.stderr, flush=True))
    except CheckFailed as err:
        print(f"jaxbp experiment {NAME}: a check failed, so no time counts:\n{err}", file=sys.stderr)
        return 1
    text = markdown(result)
    print(text)
    _common.write_outputs(cfg.out_dir, NAME, cfg, result, rows=result["rows"], files=[(f"{NAME}.md", text)],
                          compute_seconds=result["seconds"])
    print(f"wrote {cfg.out_dir}/{NAME}.md, results.json and results.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
