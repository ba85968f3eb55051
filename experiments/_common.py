"""Shared plumbing of the experiments: flags from a Config, atomic files, reusable parts, metadata.

Every experiment module has a frozen Config dataclass, run(cfg, *, cache=None) -> dict that only
computes, and main(argv) -> int built from `cli`, `PartCache` and `write_outputs` here:

    cfg = _common.parse_config(Config, argv, name)      --quick, --out DIR, --seeds, --dtype, ...
    with _common.precision():                           x64 on (float64 references), "highest" matmuls
        results = run(cfg, cache=_common.PartCache(cfg.out_dir, cfg))
    _common.write_outputs(cfg.out_dir, results, rows=..., figures=...)

A part is one finished slice of the work (a dtype, a data set) stored as parts/<name>.json
beside the config it was computed with; a rerun with the same config reuses it, so an
interrupted run resumes where it stopped. Every file is written to a temporary name and
renamed, so a run killed half-way leaves only complete files.

`gd` is the minimal training loop the experiments use: full-batch (or sampled mini-batch)
gradient descent compiled once as a lax.scan and vmapped over seeds by the caller.
"""

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}


# ---------------------------------------------------------------- flags
def parse_config(config_cls, argv, name):
    """Build argparse from the Config fields; --quick swaps in config_cls.quick() before the flags apply."""
    parser = argparse.ArgumentParser(prog=f"jaxbp experiment {name}", description=(config_cls.__doc__ or ""))
    parser.add_argument("--quick", action="store_true", help="a seconds-long version (what the tests run)")
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "out_dir":
            parser.add_argument("--out", dest="out_dir", default=None, help=f"results folder (default results/{name})")
        elif isinstance(field.default, bool):
            parser.add_argument(flag, dest=field.name, default=None, type=lambda s: s.lower() in ("1", "true", "yes"))
        elif isinstance(field.default, tuple):
            kind = type(field.default[0]) if field.default else str
            parser.add_argument(flag, dest=field.name, default=None, nargs="+", type=kind,
                                help=f"default {' '.join(map(str, field.default))}")
        else:
            parser.add_argument(flag, dest=field.name, default=None, type=type(field.default),
                                help=f"default {field.default}")
    args = parser.parse_args(list(argv) if argv is not None else None)
    cfg = config_cls.quick() if args.quick else config_cls()
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(args).items() if k != "quick" and v is not None}
    if "dtypes" in changes:
        for d in changes["dtypes"]:
            if d not in DTYPES:
                raise SystemExit(f"--dtypes must be among {', '.join(DTYPES)}; got {d!r}")
    if "out_dir" not in changes and cfg.out_dir == "":  # quick results apart, so they never replace full ones
        changes["out_dir"] = str(Path("results", "quick", name) if args.quick else Path("results", name))
    return dataclasses.replace(cfg, **changes)


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
    """Write bytes or text to path via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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

    def get(self, name, compute):
        path = self.dir / f"{name}.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("config_tag") == self.tag:
                self.seconds += stored.get("seconds", 0.0)
                return stored["value"]
        start = time.perf_counter()
        value = to_jsonable(compute())
        seconds = time.perf_counter() - start
        self.seconds += seconds
        write_json(path, {"config_tag": self.tag, "seconds": seconds, "value": value})
        return value


def part(cache, name, compute):
    """compute() or its stored value when cache holds it; no I/O at all when cache is None."""
    return to_jsonable(compute()) if cache is None else cache.get(name, compute)


def progress(iterable, desc, total=None):
    """A tqdm progress bar on stderr (silent when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=None, leave=False)


def write_outputs(out_dir, name, cfg, results, *, rows=(), figures=(), compute_seconds=None):
    """results.json (metadata + results), results.csv (rows) and the figures, each atomically."""
    out_dir = Path(out_dir)
    for fig_name, fig in figures:
        save_figure(fig, out_dir / fig_name)
    write_csv(out_dir / "results.csv", list(rows))
    with precision():  # every main computes inside precision(); the record states the values it set
        meta = metadata(cfg, name)
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


def rel_error(a, b):
    """Ng's relative difference ||a - b|| / (||a|| + ||b||), 0 when both are 0, in float64."""
    a, b = jnp.asarray(a, jnp.float64), jnp.asarray(b, jnp.float64)
    num, den = jnp.linalg.norm(a - b), jnp.linalg.norm(a) + jnp.linalg.norm(b)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0.0)


# ---------------------------------------------------------------- training
def gd(params, X, Y, grad_fn, *, learning_rate, num_iterations, batch_size=None, key=None):
    """Gradient descent as one lax.scan: W -= alpha dW, b -= alpha db, num_iterations times.

    grad_fn(params, X, Y) -> (cost, AL, grads). With batch_size, each step draws batch_size
    columns of X with replacement (key required). Returns (params, costs (T,), accuracies (T,))
    where cost and accuracy are those of the batch the step used, before the update.
    jit it with grad_fn, num_iterations and batch_size static; vmap it over seeds.
    """

    if batch_size is not None and key is None:
        raise ValueError("gd: key is required with batch_size (it draws the mini-batches)")

    def step(params, key_t):
        Xb, Yb = X, Y
        if batch_size is not None:
            idx = jax.random.randint(key_t, (batch_size,), 0, X.shape[1])
            Xb, Yb = X[:, idx], Y[:, idx]  # (n_x, batch_size), (n_y, batch_size)
        cost, AL, grads = grad_fn(params, Xb, Yb)
        params = jax.tree.map(lambda p, d: p - jnp.asarray(learning_rate, p.dtype) * d, params, grads)
        return params, (cost, accuracy(AL, Yb))

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
