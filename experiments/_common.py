"""Shared plumbing of the experiments: checked flags from a Config, atomic files, reusable parts, metadata, gd.

Every experiment module has a frozen Config dataclass (with a field `mode: str = "full"` and a
classmethod `quick()` returning the mode="quick" config), run(cfg, *, cache=None) -> dict that only
computes, and main(argv) -> int built from the functions here:

    cfg = _common.parse_config(Config, argv, NAME)      --quick, --out DIR, one flag per field
    with _common.precision():                           x64 on (float64 references), "highest" matmuls
        cache = _common.PartCache(cfg.out_dir, cfg)
        results = run(cfg, cache=cache)
        _common.write_outputs(cfg.out_dir, NAME, cfg, results, rows=..., figures=..., compute_seconds=cache.seconds)

(write_outputs inside the block: the record states the precision the results were computed in.)

Flags. parse_config checks every value before anything runs and answers a mistake with one line
on stderr and exit status 2, naming the flag: ints must be >= 1 and floats finite and > 0 (or at
least the default, where that is smaller) unless the Config's BOUNDS say otherwise, strings must
be among its CHOICES (dtypes among DTYPES), and its __post_init__ may refuse a combination (a
ValueError naming the flag). --out must be writable, and --quick refuses a folder that holds a
full run's results.json. Without the `experiments` extra (matplotlib, scikit-learn, tqdm) it says
which pip command installs it. --quick results default to results/quick/NAME, full ones to
results/NAME.

Files. A part is one finished slice of the work (a dtype, a data set) stored as parts/<name>.json
with the tag of the config it was computed with; a rerun with the same config reuses it, so an
interrupted run resumes where it stopped. A part that cannot be read (truncated, emptied) is
recomputed with a warning naming it. Every file is written to a hidden `.NAME.PID.XXXXXXXX.tmp`
in its folder and renamed over NAME: readers open only final names, so a run killed half-way,
even by SIGKILL, leaves complete files and perhaps a temporary, which the next run in that
folder deletes (unless the process that wrote it still runs). Files get the user's usual
permissions (0666 less the umask), as any file they create.

Training. `gd` is plain gradient descent compiled once as a lax.scan; the callers vmap it over
seeds. It exists beside jaxbp.train because train cannot run these experiments: why_average draws
every mini-batch with replacement, so B may exceed m (train's mini-batches are epochs without
replacement, B <= m); dz_no_one_over_m trains on a deliberately wrong gradient (1/m applied twice)
that train's grads_from cannot express; activations and dz_no_one_over_m plot the training
accuracy of every step, where train records only the cost. Its default gradient is the library's
(jaxbp.fast.cost_and_grads, Ng's layout), and tests/test_experiments.py checks that it retraces
jaxbp.train step for step.
"""

import argparse
import contextlib
import csv
import dataclasses
import functools
import hashlib
import importlib.util
import io
import json
import math
import os
import platform
import secrets
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import fast, model
from jaxbp.cli import ArgumentParser

DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}
EXTRAS = ("matplotlib", "sklearn", "tqdm")  # the `experiments` extra: figures, the data sets, progress bars
INSTALL_EXTRAS = "pip install 'jaxbp[experiments]'"


# ---------------------------------------------------------------- flags
def _boolean(text):
    words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return words[text.lower()]


def _number(kind, bounds):
    """An argparse type for int or float: within bounds = (lo, hi), inclusive, None for open; None: > 0."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        if bounds is None:
            ok, want = value > 0, "> 0"
        else:
            lo, hi = bounds
            ok = (lo is None or value >= lo) and (hi is None or value <= hi)
            want = f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in [{lo}, {hi}]"
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {want}, got {text}")
        return value
    return parse


def _field_type(config_cls, field):
    """The argparse type of one Config field (the element type for tuples), with its BOUNDS."""
    values = field.default if isinstance(field.default, tuple) else (field.default,)
    kind = type(values[0]) if values else str
    if kind is bool:
        return _boolean
    if kind in (int, float):
        # counts >= 1, sizes and rates > 0; a default is always allowed (a seed of 0)
        least = min(values)
        default_bounds = (min(1, least), None) if kind is int else None if least > 0 else (least, None)
        return _number(kind, getattr(config_cls, "BOUNDS", {}).get(field.name, default_bounds))
    return kind


def _missing_modules(names):
    """The modules among names that cannot be imported (None in sys.modules counts as missing)."""
    missing = []
    for name in names:
        if name in sys.modules:
            if sys.modules[name] is None:
                missing.append(name)
        elif importlib.util.find_spec(name) is None:
            missing.append(name)
    return missing


def _unwritable(folder):
    """None if files can be created in folder (made if need be), else why not."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder, f".write-test.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as err:
        return err.strerror or str(err)
    return None


def _holds_full_results(folder):
    """True if folder/results.json is a full (not --quick) run's record."""
    try:
        config = json.loads(Path(folder, "results.json").read_text())["metadata"]["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return config.get("mode") == "full"


def parse_config(config_cls, argv, name, *, prog=None, folder=None, needs=EXTRAS):
    """The Config from the command line, every value checked; a mistake is one line and exit 2.

    --quick starts from config_cls.quick() instead of config_cls(); the flags apply on top. The
    results folder defaults to results/<folder> (results/quick/<folder> with --quick), folder =
    name unless given ("" for results/ itself). needs: modules the run imports (the extra).
    """
    prog = prog or f"jaxbp experiment {name}"
    folder = name if folder is None else folder
    parser = ArgumentParser(prog=prog, description=(config_cls.__doc__ or "").strip())
    parser.add_argument("--quick", action="store_true", help="a seconds-long version (what the tests run)")
    choices = {"dtypes": tuple(DTYPES), **getattr(config_cls, "CHOICES", {})}
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "mode":  # set by --quick
            continue
        if field.name == "out_dir":
            parser.add_argument("--out", dest="out_dir", default=None, metavar="DIR",
                                help=f"results folder (default results/{folder}, results/quick/{folder} with --quick)")
            continue
        default = " ".join(map(str, field.default)) if isinstance(field.default, tuple) else field.default
        parser.add_argument(flag, dest=field.name, default=None, type=_field_type(config_cls, field),
                            nargs="+" if isinstance(field.default, tuple) else None,
                            choices=choices.get(field.name), metavar=field.name.upper(), help=f"default {default}")
    args = parser.parse_args(list(argv) if argv is not None else None)
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(args).items()
               if k != "quick" and v is not None}
    try:
        cfg = dataclasses.replace(config_cls.quick() if args.quick else config_cls(), **changes)
    except ValueError as err:  # a combination the Config's __post_init__ refuses
        parser.error(str(err))
    if not cfg.out_dir:
        cfg = dataclasses.replace(cfg, out_dir=str(Path("results", "quick", folder) if args.quick
                                                   else Path("results", folder)))
    missing = _missing_modules(needs)
    if missing:
        parser.exit(2, f"{prog}: error: needs the `experiments` extra (missing: {', '.join(missing)}); "
                       f"install it with: {INSTALL_EXTRAS}\n")
    why = _unwritable(cfg.out_dir)
    if why:
        parser.error(f"argument --out: cannot write to {cfg.out_dir}: {why}")
    if args.quick and _holds_full_results(cfg.out_dir):
        parser.error(f"argument --out: {cfg.out_dir} holds a full run's results, which --quick would replace; "
                     "choose another --out")
    return cfg


@contextlib.contextmanager
def precision():
    """float64 available (the references) and full-precision matmuls, only inside this block."""
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        yield


def metadata(cfg, name):
    """What a result depends on besides the code: config, seeds, precision, versions, devices."""
    return {
        "experiment": name,
        "config": config_dict(cfg),
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "python": platform.python_version(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def config_dict(cfg):
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k != "out_dir"}


# ---------------------------------------------------------------- files
def to_jsonable(x):
    """Arrays and NumPy scalars -> lists and floats (NaN and Inf kept as JSON's NaN/Infinity)."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (jax.Array, np.ndarray)):
        return to_jsonable(np.asarray(x, dtype=np.float64 if np.asarray(x).dtype.kind == "f" else None).tolist())
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def atomic_write(path, data):
    """Write bytes or text to path via a hidden temporary in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies (mkstemp's is 0600)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(folder):
    """Delete the .NAME.PID.XXXXXXXX.tmp files in folder whose writing process is gone (killed mid-write)."""
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 3)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid():
            try:
                os.kill(pid, 0)
                continue  # its writer still runs
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # another user's live process
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json(path, obj):
    atomic_write(path, json.dumps(to_jsonable(obj), indent=1))


def write_csv(path, rows):
    if not rows:
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(to_jsonable(rows))
    atomic_write(path, buffer.getvalue())


def save_figure(fig, path):
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buffer.getvalue())


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class PartCache:
    """parts/<name>.json under out_dir, valid only for the config that produced them."""

    def __init__(self, out_dir, cfg):
        self.dir = Path(out_dir) / "parts"
        self.tag = hashlib.sha256(json.dumps(config_dict(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.seconds = 0.0  # compute time of every part used, stored or fresh: the cost of a run from scratch
        for folder in (Path(out_dir), self.dir):
            remove_stale_temporaries(folder)

    def get(self, name, compute):
        path = self.dir / f"{name}.json"
        stored = read_part(path)
        if stored is not None and stored.get("config_tag") == self.tag:
            self.seconds += stored.get("seconds", 0.0)
            return stored["value"]
        start = time.perf_counter()
        value = to_jsonable(compute())
        seconds = time.perf_counter() - start
        self.seconds += seconds
        write_json(path, {"config_tag": self.tag, "seconds": seconds, "value": value})
        return value


def read_part(path):
    """The stored part record at path, or None: absent, or unreadable (then a warning names the file)."""
    if not path.is_file():
        return None
    try:
        text = path.read_bytes()
        stored = json.loads(text) if text.strip() else None
        why = "empty" if stored is None else "not a part record"
    except OSError as err:
        why = err.strerror
    except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
        why = "not valid JSON"
    else:
        if isinstance(stored, dict) and "value" in stored:
            return stored
    print(f"warning: {path} is unreadable ({why}, perhaps truncated); recomputing it", file=sys.stderr)
    return None


def part(cache, name, compute):
    """compute() or its stored value when cache holds it; no I/O at all when cache is None."""
    return to_jsonable(compute()) if cache is None else cache.get(name, compute)


def progress(iterable, desc, total=None):
    """A tqdm progress bar on stderr (silent when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=None, leave=False)


def write_outputs(out_dir, name, cfg, results, *, rows=(), figures=(), compute_seconds=None, files=()):
    """results.json (metadata + results), results.csv (rows), figures and (name, text) files, each atomically."""
    out_dir = Path(out_dir)
    remove_stale_temporaries(out_dir)
    for fig_name, fig in figures:
        save_figure(fig, out_dir / fig_name)
    for file_name, text in files:
        atomic_write(out_dir / file_name, text)
    write_csv(out_dir / "results.csv", list(rows))
    meta = metadata(cfg, name)  # as set now: the mains call this inside the precision() they computed in
    meta["compute_seconds"] = compute_seconds  # sum over the parts, whether computed now or reused
    write_json(out_dir / "results.json", {"metadata": meta, "results": results})


def print_table(rows, columns):
    """A small fixed-width table of some columns of rows."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if math.isfinite(v) else str(v)
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def rel_error_in_jit(a, b):
    """jaxbp.checking.compare.rel_error, the one metric, written traceably for use inside a jitted function.

    ||a - b|| / (||a|| + ||b||) in float64 (call it under precision()), 0 when both are 0; the
    tests check that it equals compare.rel_error. Outside jit, use compare.rel_error itself.
    """
    a, b = jnp.asarray(a, jnp.float64), jnp.asarray(b, jnp.float64)
    num, den = jnp.linalg.norm(a - b), jnp.linalg.norm(a) + jnp.linalg.norm(b)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0.0)


# ---------------------------------------------------------------- training
def library_grads(params, X, Y, *, hidden, output, placement="deferred"):
    """(J, grads) by jaxbp's hand-written backprop in Ng's layout: jaxbp.fast.cost_and_grads, as train uses it."""
    return fast.cost_and_grads(params, X, Y, layout="columns", hidden=hidden, output=output, grads_from="backprop",
                               placement=placement, start="dZL")


def gd(params, X, Y, *, learning_rate, num_iterations, hidden=None, output=None, placement="deferred", grads_fn=None,
       batch_size=None, key=None, with_accuracy=True):
    """Gradient descent as one lax.scan: p -= alpha dp for every leaf p of params, num_iterations times.

    grads_fn(params, X, Y) -> (J, grads); default library_grads with hidden, output, placement.
    With batch_size, each step draws batch_size columns of X with replacement (key required),
    so batch_size may exceed m. Returns (params, costs (T,), accuracies (T,)): J and the accuracy
    (a forward pass of Ng's net with hidden, output; NaN when with_accuracy=False) of the batch
    each step used, before its update. jit it with the choices static; vmap it over seeds.
    """
    if batch_size is not None and key is None:
        raise ValueError("gd: key is required with batch_size (it draws the mini-batches)")
    if (grads_fn is None or with_accuracy) and (hidden is None or output is None):
        raise ValueError("gd: hidden and output are required for the library's grads and for the accuracy")
    if grads_fn is None:
        grads_fn = functools.partial(library_grads, hidden=hidden, output=output, placement=placement)

    def step(params, key_t):
        Xb, Yb = X, Y
        if batch_size is not None:
            idx = jax.random.randint(key_t, (batch_size,), 0, X.shape[1])
            Xb, Yb = X[:, idx], Y[:, idx]  # (n_x, batch_size), (n_y, batch_size)
        cost, grads = grads_fn(params, Xb, Yb)
        acc = accuracy(model._forward(params, Xb, hidden, output)[0], Yb) if with_accuracy else jnp.nan
        params = jax.tree.map(lambda p, d: p - jnp.asarray(learning_rate, p.dtype) * d, params, grads)
        return params, (cost, acc)

    xs = jax.random.split(key, num_iterations) if batch_size is not None else jnp.arange(num_iterations)
    params, (costs, accuracies) = jax.lax.scan(step, params, xs)
    return params, costs, accuracies


def accuracy(AL, Y):
    """Fraction of columns classified right: AL > 1/2 for one sigmoid unit, argmax for softmax."""
    if AL.shape[0] == 1:
        return jnp.mean((AL > 0.5) == (Y > 0.5))
    return jnp.mean(jnp.argmax(AL, axis=0) == jnp.argmax(Y, axis=0))


def time_compiled(fn, *args, repeats=20):
    """Least wall time over `repeats` compiled calls, with block_until_ready; compiles (and warms) first.

    The minimum, not the median: on a shared CPU other processes only ever add time, so the least
    disturbed call is the best estimate of what the computation itself costs.
    """
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.min(times))
