"""Config for the whole suite, set before any array exists.

x64 gives float64 references; rank promotion raises so a 1-D bias fails loudly; 4 CPU
devices let multi-device code run here; "highest" matmul precision rules out TF32 on GPUs.
"""

import os

os.environ.setdefault("XLA_FLAGS", "")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_default_matmul_precision", "highest")

import pytest  # noqa: E402


@pytest.fixture
def key():
    return jax.random.key(0)
