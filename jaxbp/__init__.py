"""jaxbp: Ng's backpropagation as pure JAX, checked against jax.grad.

Notation: X (n_x, m), W[l] (n_l, n_{l-1}), b[l] (n_l, 1), Y (n_y, m); see README.md.
Every public name below has this one import path, `from jaxbp import name`; train, TrainState and
TrainResult (jaxbp.training) and the parallel functions (jaxbp.parallel) load on first use.
"""

from jaxbp import layers
from jaxbp.activations import ACTIVATIONS
from jaxbp.backprop import (
    BackwardStep,
    Placement,
    Start,
    activation_backward,
    backward,
    backward_from,
    linear_backward,
    reduction_for,
)
from jaxbp.checking.checker import KINDS, BackwardFnError, Report, course_backward
from jaxbp.checking.layer_check import check_layer
from jaxbp.costs import compute_cost, loss_from_logits, loss_from_probabilities
from jaxbp.course.assignments import LearnerError
from jaxbp.course.grading import check
from jaxbp.model import (
    Cache,
    Layer,
    autodiff_grads,
    cost,
    dropout_masks,
    forward,
    init_params,
    linear_forward,
    per_example_grads,
    predict,
)

# training (optax) and parallel load on first use: `jaxbp check` never needs them (0.2 s of its start-up).
_LAZY = {**dict.fromkeys(("train", "TrainResult", "TrainState"), "jaxbp.training"),
         **dict.fromkeys(("data_parallel_grads", "make_mesh", "pmean_error", "pmean_of_means_grads", "sweep"),
                         "jaxbp.parallel")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxbp' has no attribute {name!r}")

__all__ = [
    "ACTIVATIONS",
    "BackwardFnError",
    "BackwardStep",
    "Cache",
    "KINDS",
    "Layer",
    "LearnerError",
    "Placement",
    "Report",
    "Start",
    "TrainResult",
    "TrainState",
    "activation_backward",
    "autodiff_grads",
    "backward",
    "backward_from",
    "check",
    "check_layer",
    "compute_cost",
    "cost",
    "course_backward",
    "dropout_masks",
    "forward",
    "init_params",
    "layers",
    "data_parallel_grads",
    "linear_backward",
    "linear_forward",
    "loss_from_logits",
    "loss_from_probabilities",
    "make_mesh",
    "per_example_grads",
    "pmean_error",
    "pmean_of_means_grads",
    "predict",
    "reduction_for",
    "sweep",
    "train",
]
