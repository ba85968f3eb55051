"""Config for the whole suite, set before any array exists.

x64 gives float64 references; rank promotion raises so a 1-D bias fails loudly; 4 CPU
devices let multi-device code run here; "highest" matmul precision rules out TF32 on GPUs.

XLA compiles with its quick CPU settings (QUICK_XLA) unless XLA_FLAGS is already set: the suite
compiles about two thousand small programs and spends most of its time compiling them. Measured
on the 2-core development machine, the experiments' quick runs take 42 s of CPU instead of 113 s,
and the suite's verdicts are the same (every tolerance and bound holds at either setting).
`XLA_FLAGS= python -m pytest` runs the suite at XLA's defaults.

Memory: every compiled program stays in JAX's caches for the process's life, which grew a worker
to 4 GB; past RELEASE_MIB of resident memory the caches are cleared after a test (its programs are
recompiled if a later test needs them).
"""

import ctypes
import ctypes.util
import gc
import os

QUICK_XLA = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
             "--xla_cpu_use_fusion_emitters=false")  # all three known to jaxlib 0.9.0 (the floor) ... 0.10.2
RELEASE_MIB = 1000

os.environ.setdefault("XLA_FLAGS", QUICK_XLA)
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_default_matmul_precision", "highest")

import pytest  # noqa: E402


def _resident_mib():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: no measurement, no release
        return 0


def _trim():
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and the RSS would not fall)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


_release_at = [RELEASE_MIB]


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    yield
    if _resident_mib() > _release_at[0]:
        jax.clear_caches()
        gc.collect()
        _trim()
        _release_at[0] = max(RELEASE_MIB, _resident_mib() + RELEASE_MIB / 2)  # what stays is not the caches


@pytest.fixture
def key():
    return jax.random.key(0)
