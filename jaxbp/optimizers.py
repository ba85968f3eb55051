"""The course's optimizers as optax transformations, and the checks of every training hyperparameter.

Optimizers: a name (the course's updates, built with optax) or any optax.GradientTransformation.
    sgd        W = W - learning_rate dW
    momentum   v = beta v + (1 - beta) dW;  W = W - learning_rate v     (Ng's form, not optax's)
    adam       v = beta1 v + (1 - beta1) dW,  s = beta2 s + (1 - beta2) dW^2,
               W = W - learning_rate v_corrected / (sqrt(s_corrected) + epsilon)   (optax.adam)
    defaults   learning_rate 0.0075, beta 0.9, beta1 0.9, beta2 0.999, epsilon 1e-8
learning_rate is a number or an optax schedule (a function of the step count). A hyperparameter
the optimizer does not use is an error, as is one out of range (RANGES; each also after rounding
to the params' dtype). With an optax optimizer its hyperparameters are its own; learning_rate is
accepted only for one built with optax.inject_hyperparams (with a numeric learning_rate), and then
sets that value in its state. lambd and keep_prob (training.py's regularization) are checked here too.
Values are checked only on concrete arrays; types and shapes always.
"""

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbp import shapes

Optimizer = Literal["sgd", "momentum", "adam"]
OPTIMIZERS = ("sgd", "momentum", "adam")
DEFAULTS = {"learning_rate": 0.0075, "beta": 0.9, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
USES = {"sgd": ("learning_rate",), "momentum": ("learning_rate", "beta"),
        "adam": ("learning_rate", "beta1", "beta2", "epsilon")}  # the hyperparameters each name reads
RANGES = {"learning_rate": "a finite real number > 0 (or an optax schedule)", "epsilon": "a finite real number > 0",
          "beta": "a real number in [0, 1)", "beta1": "a real number in [0, 1)", "beta2": "a real number in [0, 1)",
          "lambd": "a finite real number >= 0", "keep_prob": "a real number in (0, 1]"}


def make_optimizer(optimizer, hyper, schedule=None):
    """The optax transformation for `optimizer` (a name, or a transformation returned as it is).

    hyper holds the hyperparameter arrays; schedule, when given, replaces learning_rate.
    """
    if not isinstance(optimizer, str):
        return optimizer
    learning_rate = hyper["learning_rate"] if schedule is None else schedule
    if optimizer == "sgd":
        return optax.sgd(learning_rate)
    if optimizer == "momentum":  # Ng's v = beta v + (1 - beta) dW, not optax's v = beta v + dW
        return optax.chain(optax.ema(hyper["beta"], debias=False), optax.scale_by_learning_rate(learning_rate))
    return optax.adam(learning_rate, b1=hyper["beta1"], b2=hyper["beta2"], eps=hyper["epsilon"])


def with_learning_rate(opt_state, learning_rate):
    """opt_state of optax.inject_hyperparams with hyperparams["learning_rate"] replaced (a new dict)."""
    hyperparams = dict(opt_state.hyperparams)
    hyperparams["learning_rate"] = jnp.asarray(learning_rate).astype(hyperparams["learning_rate"].dtype)
    return opt_state._replace(hyperparams=hyperparams)


def _in_range(name, v):
    if name.startswith("beta"):
        return (0 <= v) & (v < 1)
    if name == "lambd":
        return np.isfinite(v) & (v >= 0)
    if name == "keep_prob":
        return (0 < v) & (v <= 1)
    return np.isfinite(v) & (v > 0)


def check_hyperparameter(name, value, dtype, *, scalar=True):
    """Raise ValueError naming `name` unless value is a real number in its range (RANGES), also once
    rounded to `dtype` (the run's own width). Shapes and dtypes always; values only when concrete."""
    expected = RANGES[name]
    if isinstance(value, (bool, np.bool_, str, bytes)) or not (isinstance(value, (int, float, np.number))
                                                            or hasattr(value, "dtype")):
        raise ValueError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    value_dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    if not (jnp.issubdtype(value_dtype, jnp.floating) or jnp.issubdtype(value_dtype, jnp.integer)):
        raise ValueError(f"{name} must be {expected}, got dtype {value_dtype}: {value!r}")
    if scalar and jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(value)}")
    if not shapes.is_concrete(value):
        return
    v = np.asarray(value, np.float64)
    if not np.all(_in_range(name, v)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    rounded = np.asarray(np.asarray(value).astype(dtype), np.float64)  # the value the run computes with
    if not np.all(_in_range(name, rounded)) or (name == "keep_prob" and np.any((v < 1) & (rounded == 1))):
        raise ValueError(f"{name} must be {expected} in the params' dtype {np.dtype(dtype).name}, got {value!r}, "
                         f"which rounds to {rounded.tolist()}")


def _check_schedule(schedule):
    with jax.ensure_compile_time_eval():
        first = schedule(0)
    if jnp.ndim(first) != 0 or jnp.iscomplexobj(first):
        raise ValueError(f"learning_rate schedule must return a real scalar, got {first!r} at step 0")
    if shapes.is_concrete(first) and not (np.isfinite(float(first)) and float(first) >= 0):
        raise ValueError(f"learning_rate schedule must return a finite value >= 0, got {float(first)} at step 0")


def hyperparameters(optimizer, given, dtype, params):
    """(hyper arrays, schedule) for the run; raises for unused or out-of-range hyperparameters.

    given: {"learning_rate", "beta", "beta1", "beta2", "epsilon"} as train received them (None: not given).
    """
    named = isinstance(optimizer, str)
    uses = USES[optimizer] if named else ("learning_rate",)
    for name, value in given.items():
        if value is not None and name not in uses:
            owner = [o for o in OPTIMIZERS if name in USES[o]]
            where = (f"optimizer={' or '.join(map(repr, owner))} only" if named
                     else "the named optimizers only; set it in the optax optimizer itself")
            raise ValueError(f"{name} is used by {where}; got it with optimizer={optimizer!r}")
    schedule = given["learning_rate"] if callable(given["learning_rate"]) else None
    if schedule is not None and not named:
        raise ValueError("learning_rate must be a number with an optax optimizer (a schedule belongs in the optimizer)")
    if schedule is not None:
        _check_schedule(schedule)
    if not named and given["learning_rate"] is not None:
        fresh = jax.eval_shape(optimizer.init, params)
        injected = getattr(fresh, "hyperparams", {})
        if "learning_rate" not in injected or "learning_rate" in getattr(fresh, "hyperparams_states", {}):
            raise ValueError("learning_rate with an optax optimizer needs one built by optax.inject_hyperparams with a "
                             "numeric learning_rate (it sets that value); otherwise give it to optax, not to train")
    hyper = {}
    for name in uses:
        value = given[name]
        if value is None:
            if not named:
                continue
            value = DEFAULTS[name]
        if name == "learning_rate" and schedule is not None:
            continue
        check_hyperparameter(name, value, dtype)
        hyper[name] = jnp.asarray(value)
    return hyper, schedule
