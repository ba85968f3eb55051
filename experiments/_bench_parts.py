"""Parts of experiments/bench.py: the NumPy and PyTorch peers, peak memory, the machine's description.

The peers are written as the course writes its loop (dicts of "W1", "b1", ...; a Python loop
over iterations) and as PyTorch users write theirs (nn.Linear, a loss, optim.SGD).
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

LEARNING_RATE = 0.0075


def numpy_step(parameters, X, Y, learning_rate):
    """One course-style step: L_model_forward, compute_cost, L_model_backward (no dA0), update."""
    L = len(parameters) // 2
    caches, A = [], X
    for l in range(1, L + 1):
        A_prev, W, b = A, parameters[f"W{l}"], parameters[f"b{l}"]
        Z = W @ A_prev + b
        A = np.maximum(Z, 0) if l < L else 1 / (1 + np.exp(-Z))
        caches.append((A_prev, W, Z))
    m = X.shape[1]
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    dA = -(np.divide(Y, A) - np.divide(1 - Y, 1 - A))
    for l in range(L, 0, -1):
        A_prev, W, Z = caches[l - 1]
        if l == L:
            s = 1 / (1 + np.exp(-Z))
            dZ = dA * s * (1 - s)
        else:
            dZ = np.array(dA, copy=True)
            dZ[Z <= 0] = 0
        dW, db = (dZ @ A_prev.T) / m, np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            dA = W.T @ dZ
        parameters[f"W{l}"] = W - learning_rate * dW
        parameters[f"b{l}"] = parameters[f"b{l}"] - learning_rate * db
    return cost


def numpy_runner(params, X, Y, dtype):
    parameters = {}
    for l, (W, b) in enumerate(params, start=1):
        parameters[f"W{l}"], parameters[f"b{l}"] = W.astype(dtype), b.astype(dtype)
    X, Y = X.astype(dtype), Y.astype(dtype)

    def run(n):
        for _ in range(n):
            numpy_step(parameters, X, Y, LEARNING_RATE)
    return run


def torch_runner(params, X, Y, threads=None):
    """PyTorch eager, the idiomatic loop: nn.Linear layers, BCEWithLogitsLoss, optim.SGD.

    threads=1 pins torch to one thread during the call: on a loaded machine its OpenMP
    barriers can cost more than the work of a small net (22 ms vs 0.55 ms per planar step
    measured here under load), so the benchmark times both and the peer is the faster.
    """
    import torch

    layers = []
    for l, (W, b) in enumerate(params, start=1):
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(W)))
            linear.bias.copy_(torch.from_numpy(np.array(b[:, 0])))
        layers += [linear] + ([torch.nn.ReLU()] if l < len(params) else [])
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    XT, YT = torch.from_numpy(np.ascontiguousarray(X.T)), torch.from_numpy(np.ascontiguousarray(Y.T))

    def run(n):
        default_threads = torch.get_num_threads()
        torch.set_num_threads(threads or default_threads)
        try:
            for _ in range(n):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(XT), YT)
                loss.backward()
                opt.step()
            loss.item()
        finally:
            torch.set_num_threads(default_threads)
    return run


_MEMORY_SCRIPT = """
import json, resource, sys
import jax, jax.numpy as jnp, numpy as np
from jaxbp import model
from jaxbp.training import _run_jit, flops_per_step, train
dims, m, n = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
X = jnp.asarray(rng.random((dims[0], m)).astype(np.float32))
Y = jnp.asarray((rng.random((1, m)) > 0.5).astype(np.float32))
params = model.init_params(jax.random.key(0), tuple(dims))
jax.block_until_ready((X, Y, params))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if n:
    jax.block_until_ready(train(params, X, Y, learning_rate=0.0075, num_iterations=n))
print(json.dumps({"before_mib": before / 1024, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def peak_memory(dims, m, iterations):
    """Peak resident MiB of a fresh process that trains (dims, m) for each count in iterations."""
    import jaxbp

    where = str(Path(jaxbp.__file__).resolve().parent.parent)  # this jaxbp, checkout or installed, comes first
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (where, os.environ.get("PYTHONPATH"))))}
    out = {}
    for n in iterations:
        done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, json.dumps([list(dims), m, n])], env=env,
                              capture_output=True, text=True, check=True)
        out[n] = json.loads(done.stdout.strip().splitlines()[-1])
    dtype_bytes = 4
    live = dtype_bytes * (dims[0] * m + 2 * sum(a * b + a for a, b in zip(dims[1:], dims[:-1], strict=True))
                          + 3 * m * sum(dims[1:]))
    return {"iterations": list(iterations), "runs": out, "live_arrays_mib": live / 2**20}


def environment():
    name, flags = cpu()
    info = dict(jax=jax.__version__, numpy=np.__version__, backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()], machine=platform.machine(), processor=name, cpu_flags=flags,
                cpu_count=os.cpu_count(), python=platform.python_version(), dtype="float32",
                matmul_precision=str(jax.config.jax_default_matmul_precision),
                openblas_env={k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
    try:
        import threadpoolctl

        info["numpy_blas"] = [(p.get("internal_api"), p.get("architecture"), p.get("num_threads"))
                              for p in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    try:
        import torch

        info["torch"], info["torch_threads"] = torch.__version__, torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    return info


VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "amx_tile", "amx_bf16")  # the extensions that decide float32 (and bf16) matmul speed


def cpu(cpuinfo="/proc/cpuinfo"):
    """(model name, the VECTOR_FLAGS it has) from /proc/cpuinfo; elsewhere (platform.processor(), [])."""
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine(), []
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.machine())
    flags = set(next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), []))
    return name, [f for f in VECTOR_FLAGS if f in flags]
