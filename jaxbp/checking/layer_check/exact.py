"""The exact reference: jax.vjp of jaxbp.layers' pure forward in float64, and the course's caches it builds.

Contract
    For each case, the forward's checked outputs and the vjp of the forward with the case's upstream
    gradient (no cotangent on y_pred or on anything else the forward returns):
        conv       Z;           dA_prev, dW, db         = vjp of Z w.r.t. (A_prev, W, b) at dZ
        pool       A;           dA_prev                 = vjp of A w.r.t. A_prev at dA
        rnn_cell   a_next;      dxt, da_prev, dWax, dWaa, dba        at da_next
        rnn        a;           dx, da0, dWax, dWaa, dba             at da
        lstm_cell  a_next, c_next;  dxt, da_prev, dc_prev, dWf..dWo, dbf..dbo  at (da_next, dc_next)
        lstm       a, c;        dx, da0, dWf..dWo, dbf..dbo          at da (none on c)
        batchnorm  out;         dx, dgamma, dbeta       (train mode)  at dout
    One jax.jit per layer kind holds every case (hyperparameters closed over, shapes fixed by
    problems.py), so it compiles once per layer kind and dtype; it runs under jax.enable_x64(True),
    never touching the global config. The same function, fed the check's dtype, gives jaxbp's caches
    in the course's format (NumPy) for a learner's backward checked alone.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import layers
from jaxbp.checking.layer_check.problems import GATES, family, problem

RNN_GRADS = ("dWax", "dWaa", "dba")
LSTM_GRADS = tuple(f"d{q}{g}" for g in GATES for q in "Wb")


def _conv(case):
    hp = case.inputs["hparameters"]

    def run(A_prev, W, b, dZ):
        Z, pullback = jax.vjp(lambda A_prev, W, b: layers.conv_forward(A_prev, W, b, hp)[0], A_prev, W, b)
        return {"Z": Z}, dict(zip(("dA_prev", "dW", "db"), pullback(dZ), strict=True)), {}

    return run


def _pool(case):
    hp, mode = case.inputs["hparameters"], case.mode

    def run(A_prev, dA):
        A, pullback = jax.vjp(lambda A_prev: layers.pool_forward(A_prev, hp, mode)[0], A_prev)
        return {"A": A}, {"dA_prev": pullback(dA)[0]}, {}

    return run


def _rnn_cell(case):
    def run(xt, a_prev, parameters, da_next):
        (a_next, y), pullback = jax.vjp(lambda xt, a_prev, p: layers.rnn_cell_forward(xt, a_prev, p)[:2],
                                        xt, a_prev, parameters)
        dxt, da_prev, dp = pullback((da_next, jnp.zeros_like(y)))
        return ({"a_next": a_next}, {"dxt": dxt, "da_prev": da_prev, **{k: dp[k[1:]] for k in RNN_GRADS}},
                {"cache": (a_next,)})

    return run


def _rnn(case):
    def run(x, a0, parameters, da):
        a, _, (stack, _) = layers.rnn_forward(x, a0, parameters)
        _, pullback = jax.vjp(lambda x, a0, p: layers.rnn_forward(x, a0, p)[0], x, a0, parameters)
        dx, da0, dp = pullback(da)
        return {"a": a}, {"dx": dx, "da0": da0, **{k: dp[k[1:]] for k in RNN_GRADS}}, {"stack": stack[:-1]}

    return run


def _lstm_cell(case):
    def run(xt, a_prev, c_prev, parameters, da_next, dc_next):
        a_next, c_next, _, cache = layers.lstm_cell_forward(xt, a_prev, c_prev, parameters)
        _, pullback = jax.vjp(lambda xt, a_prev, c_prev, p: layers.lstm_cell_forward(xt, a_prev, c_prev, p)[:2],
                              xt, a_prev, c_prev, parameters)
        dxt, da_prev, dc_prev, dp = pullback((da_next, dc_next))
        return ({"a_next": a_next, "c_next": c_next},
                {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, **{k: dp[k[1:]] for k in LSTM_GRADS}},
                {"cache": cache[:-1]})

    return run


def _lstm(case):
    def run(x, a0, parameters, da):
        a, _, c, (stack, _) = layers.lstm_forward(x, a0, parameters)
        _, pullback = jax.vjp(lambda x, a0, p: layers.lstm_forward(x, a0, p)[0], x, a0, parameters)
        dx, da0, dp = pullback(da)
        return {"a": a, "c": c}, {"dx": dx, "da0": da0, **{k: dp[k[1:]] for k in LSTM_GRADS}}, {"stack": stack[:-1]}

    return run


def _batchnorm(case):
    bn_param = case.inputs["bn_param"]

    def run(x, gamma, beta, dout):
        out, pullback = jax.vjp(lambda x, g, b: layers.batchnorm_forward(x, g, b, dict(bn_param))[0], x, gamma, beta)
        return {"out": out}, dict(zip(("dx", "dgamma", "dbeta"), pullback(dout), strict=True)), {}

    return run


BUILDERS = {"conv": _conv, "pool": _pool, "rnn_cell": _rnn_cell, "rnn": _rnn, "lstm_cell": _lstm_cell, "lstm": _lstm,
            "batchnorm": _batchnorm}


STATIC = ("hparameters", "bn_param")  # Python ints and strings: closed over, not traced


def arrays(case):
    """The case's arrays in the order its run function takes them: the forward's, then the upstream's."""
    return tuple(v for k, v in case.inputs.items() if k not in STATIC) + tuple(case.upstream.values())


@functools.cache
def _compiled(layer):
    """One jit for every case of the layer kind (the cases' hyperparameters do not depend on the seed)."""
    runs = [BUILDERS[family(layer)](case) for case in problem(layer, 0, "float64")]
    return jax.jit(lambda inputs: tuple(run(*args) for run, args in zip(runs, inputs, strict=True)))


@functools.cache
def _solved(layer, seed, dtype, compute):
    """Per case (forward outputs, grads, cache arrays) as NumPy, computed in `compute` from the dtype inputs."""
    with jax.enable_x64(True):
        inputs = tuple(tuple(_as(a, compute) for a in arrays(c)) for c in problem(layer, seed, dtype))
        return jax.tree.map(np.asarray, _compiled(layer)(inputs))


def _as(a, dtype):
    return {k: np.asarray(v, dtype) for k, v in a.items()} if isinstance(a, dict) else np.asarray(a, dtype)


def reference(layer, seed, dtype):
    """Per case, (forward outputs, gradients) in float64: the exact answers for the inputs of dtype."""
    return tuple((fwd, grads) for fwd, grads, _ in _solved(layer, seed, dtype, "float64"))


def course_cache(layer, seed, dtype, index):
    """The course's cache for case `index`, built by jaxbp.layers in dtype, as fresh NumPy objects.

    conv (A_prev, W, b, hparameters); pool (A_prev, hparameters); rnn_cell (a_next, a_prev, xt, parameters);
    rnn ([cell cache at t for t < T_x], x); lstm_cell (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt,
    parameters); lstm likewise. batchnorm has none: cs231n's cache is the learner's own format.
    """
    inputs = problem(layer, seed, dtype)[index].fresh_inputs()
    fam = family(layer)
    if fam == "conv":
        return inputs["A_prev"], inputs["W"], inputs["b"], inputs["hparameters"]
    if fam == "pool":
        return inputs["A_prev"], inputs["hparameters"]
    if fam == "batchnorm":
        raise ValueError("batchnorm needs the learner's batchnorm_forward: cs231n's cache is the learner's own format")
    extra = jax.tree.map(np.copy, _solved(layer, seed, dtype, dtype)[index][2])
    p = inputs["parameters"]
    if fam == "rnn_cell":
        return extra["cache"][0], inputs["a_prev"], inputs["xt"], p
    if fam == "lstm_cell":
        return (*extra["cache"], p)
    x = inputs["x"]
    return [tuple(v[..., t] for v in extra["stack"]) + (p,) for t in range(x.shape[2])], x
