"""Where does the 1/m go when examples are coupled? Per-example grads, dZ columns and micro-batches under batch norm.

Question
    When examples do not interact, J = (1/m) sum_i L(i) gives two readings: the batch gradient is
    the mean of the per-example gradients ("the derivative of the average is the average of the
    derivatives"), and column i of a deferred dZ[l] = m dJ/dZ[l] is example i's own dL(i)/dZ[l].
    Batch normalisation in train mode makes every L(i) depend on every example through the batch
    mean and variance. Which reading survives, where, and by how much does the other fail? What
    does it do to gradient accumulation over micro-batches and to data parallelism?
Method
    Two moons (m examples; a seed draws the init and the examples' order), float64, a [2, 16, 16, 1]
    relu/sigmoid net with U[l] = W[l] A[l-1] and, for l < L, Z[l] = gamma x_hat(U[l]) + beta
    ("batchnorm": jaxbp.layers.batchnorm_forward in train mode, statistics over the m examples) or
    Z[l] = U[l] + beta ("plain": Ng's net, beta is b). Both nets are one program with a switch, at He
    init and after full-batch gradient descent, over seeds.
    Per-example gradient of example i = the gradient of its own loss L(i), evaluated inside the
    full batch, with the batch statistics either functions of all the examples, as the forward pass
    computes them ("coupled": the true dependence), or constants ("frozen": stop_gradient, i.e.
    batch norm in test mode with the batch's own mean and variance); lax.map of jax.grad over i.
    And "alone": example i as a batch of 1, degenerate under batch norm (x_hat = 0).
    (1) The hand-written deferred dZ[l], dU[l] (BN's backward: jaxbp.layers.batchnorm_backward)
    against the own columns dL(i)/dZ[l][:, i], coupled and frozen. (2) The mean over i of the
    per-example gradients against the batch gradient, all parameters as one vector. (3) Deferred
    against absorbed (1/m on dW, db, dgamma, dbeta, or on dZ[L]) and both against jax.grad of J.
    (4) Micro-batches of B examples, each with its own statistics: the mean of their gradients
    against the full-batch gradient, for every B at once (statistics as means within blocks of B,
    one pass; B = 1 is "alone"); checked against the literal program, m/D shards vmapped with an
    axis name, per-shard statistics and a pmean: gradient accumulation over D micro-batches and data
    parallelism over D devices alike (run on D CPU devices too, when there are that many). And with
    synchronised statistics: psum of the sums forward, of BN's two sums backward.
    Every gap is Ng's relative error ||a - b|| / (||a|| + ||b||).
Run
    jaxbp experiment coupled_examples            (full: m = 384, 10 seeds)
    jaxbp experiment coupled_examples --quick
Expected
    Plain: every gap at float64 round-off (~1e-16). Batchnorm: (2) the coupled mean is the batch
    gradient to round-off (differentiation is linear, whatever L(i) depends on); the frozen and alone
    means are not; (1) a dZ column is the example's own gradient above the last BN layer (nothing
    couples it to the loss), not below; (3) deferred = absorbed to round-off: the 1/m is a scalar on
    J; (4) the micro-batch gap falls as B grows, to round-off at B = m; per-shard statistics give the
    gap of B = m/D, synchronised ones the full-batch gradient. Refuted if a BN gap below the last BN
    layer were at round-off, or the coupled mean were not.
"""

import dataclasses
import functools
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxbp import activations, backprop, costs, datasets, layers, model, parallel

from . import _common

NAME = "coupled_examples"
TITLE = "7. Where does the 1/m go when examples are coupled?"
NETS, STATES = ("plain", "batchnorm"), ("init", "trained")
AXIS = parallel.AXIS
# Most programs here run a few dozen times and take longer to compile than to run. At XLA's backend
# optimisation level 0, with its older fusion emitters, they compile in a third of the time, which is most
# of a quick run (same results to round-off). per_example_gaps, whose run time grows as m^2, keeps the defaults.
COMPILER = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
            "xla_cpu_use_fusion_emitters": False}


@functools.cache
def compiler_options():
    """COMPILER less the options this XLA build does not know (compiling with an unknown one raises)."""
    known = {}
    for name, value in COMPILER.items():
        try:
            jax.jit(lambda x: x + 1, compiler_options={name: value}).lower(0.0).compile()
        except RuntimeError:  # jax.errors.JaxRuntimeError: "No such compile option"
            continue
        known[name] = value
    return known


def fast_jit(**jit_kwargs):
    """jax.jit(fun, compiler_options=compiler_options(), **jit_kwargs), built at the first call: the probe
    compiles, which must not happen at import (a standalone run still has to choose its CPU devices)."""
    def decorate(fun):
        jitted = None

        @functools.wraps(fun)
        def call(*args, **kwargs):
            nonlocal jitted
            if jitted is None:
                jitted = jax.jit(fun, compiler_options=compiler_options(), **jit_kwargs)
            return jitted(*args, **kwargs)
        return call
    return decorate


@dataclasses.dataclass(frozen=True)
class Config:
    """Per-example gradients, dZ columns, placement and micro-batches with and without batch norm."""

    hidden_dims: tuple = (16, 16)
    m: int = 384  # not a power of two, so 1/m is rounded and deferred vs absorbed is a real comparison
    seeds: int = 10
    num_iterations: int = 300  # full-batch gradient descent steps to the "trained" state
    learning_rate: float = 0.1
    micro_batch_sizes: tuple = (1, 2, 4, 8, 16, 32, 64, 128, 384)  # m/D for each D is added
    device_counts: tuple = (2, 8, 64)  # the literal program: one compile each
    eps: float = 1e-5
    mode: str = "full"  # "quick": the seconds-long version that --quick selects
    out_dir: str = ""

    @classmethod
    def quick(cls):
        return cls(mode="quick", m=96, seeds=3, num_iterations=100, micro_batch_sizes=(1, 3, 12, 48, 96),
                   device_counts=(4,))


class BNLayer(NamedTuple):
    W: jax.Array  # (n_l, n_{l-1})
    gamma: jax.Array  # (n_l,)  1-D, as cs231n's layer takes it; unused in the plain net
    beta: jax.Array  # (n_l,)  the bias: a b before batch norm would be cancelled by its mean


class Cache(NamedTuple):
    A_prev: jax.Array  # (n_{l-1}, m)
    Z: jax.Array  # (n_l, m)   what enters g
    bn: layers.BatchNormCache | None  # of x = U[l].T (m, n_l); None in the output layer


@fast_jit(static_argnames=("layer_dims", "dtype"))
def init(seed, *, layer_dims, dtype):
    """He-initialised W (model.init_params); hidden layers BNLayer(W, gamma = 1, beta = 0), output Layer(W, b = 0)."""
    params = model.init_params(jax.random.key(seed), layer_dims, method="he", dtype=dtype)
    hidden = tuple(BNLayer(p.W, jnp.ones(p.W.shape[0], dtype), jnp.zeros(p.W.shape[0], dtype)) for p in params[:-1])
    return (*hidden, params[-1])


def positions(params):
    """{name: n_l} of the chain-rule factors: U[l] and Z[l] of each hidden layer, Z[L]."""
    out = {}
    for l, p in enumerate(params, start=1):
        if l < len(params):
            out[f"U[{l}]"] = p.W.shape[0]
        out[f"Z[{l}]"] = p.W.shape[0]
    return out


def normalize(U, layer, *, stats, eps):
    """gamma x_hat(U) + beta, each unit over the examples (axis 1 here, axis 0 in cs231n's layout).

    stats "batch": batchnorm_forward in train mode. "frozen": the same values, but the mean and
    variance enter as constants (test mode with running stats = the batch's own, stop_gradient).
    "sync": test mode with the statistics of all shards along AXIS (psum of sums and counts).
    """
    x = U.T  # (m, n_l)
    if stats == "batch":
        bn_param = {"mode": "train", "eps": eps}
    else:
        def total(v):  # the sum over the examples: of this batch, or of every shard when synchronised
            return jnp.sum(v, axis=0) if stats == "frozen" else lax.psum(jnp.sum(v, axis=0), AXIS)

        n = x.shape[0] if stats == "frozen" else lax.psum(x.shape[0], AXIS)
        mu = total(x) / n  # (n_l,) as batchnorm_forward computes it, so frozen and batch values agree
        var = total((x - mu[None, :]) ** 2) / n
        if stats == "frozen":
            mu, var = lax.stop_gradient(mu), lax.stop_gradient(var)
        bn_param = {"mode": "test", "eps": eps, "running_mean": mu, "running_var": var}
    out, cache = layers.batchnorm_forward(x, layer.gamma, layer.beta, bn_param)
    return out.T, cache  # (n_l, m)


def forward(params, X, batchnorm, *, stats="batch", eps, deltas=None):
    """Z[L] (1, m) and caches; batchnorm: a bool array (the switch); deltas[name] is added to U[l], Z[l]."""
    def d(name):
        return 0 if deltas is None else deltas[name]

    caches, A, L = [], X, len(params)
    for l, layer in enumerate(params, start=1):
        bn = None
        if l < L:
            U = layer.W @ A + d(f"U[{l}]")  # (n_l, m)
            Z_bn, bn = normalize(U, layer, stats=stats, eps=eps)
            Z = jnp.where(batchnorm, Z_bn, U + layer.beta[:, None]) + d(f"Z[{l}]")
        else:
            Z = layer.W @ A + layer.b + d(f"Z[{l}]")  # (1, m)
        caches.append(Cache(A, Z, bn))
        A = activations.relu(Z)
    return Z, tuple(caches)


def sync_batchnorm_backward(dout, cache):
    """batchnorm_backward_alt's closed form, N and both sums over the examples of every shard along AXIS."""
    sigma = jnp.sqrt(cache.var + cache.eps)  # (1, D), the synchronised variance
    dx_hat = cache.gamma[None, :] * dout  # (N_k, D)
    N = lax.psum(dout.shape[0], AXIS)
    sum_dx_hat = lax.psum(jnp.sum(dx_hat, axis=0, keepdims=True), AXIS)
    sum_dx_hat_x_hat = lax.psum(jnp.sum(dx_hat * cache.x_hat, axis=0, keepdims=True), AXIS)
    dx = (N * dx_hat - sum_dx_hat - cache.x_hat * sum_dx_hat_x_hat) / (N * sigma)
    return dx, jnp.sum(dout * cache.x_hat, axis=0), jnp.sum(dout, axis=0)


def backward(params, caches, ZL, Y, batchnorm, *, placement, m=None, sync=False, G=None):
    """Hand-written grads (mirroring params) and the factors {name: dZ[l] or dU[l]} of `placement`.

        dZ[L] = AL - Y (/m if absorbed);  dW[l] = s dZ[l] A[l-1].T, db[l] = s sum_i dZ[l]
        hidden: (dU[l].T, dgamma, dbeta) = batchnorm_backward(dZ[l].T) (plain: dU[l] = dZ[l], dgamma = 0)
                dW[l] = s dU[l] A[l-1].T;  dA[l-1] = W[l].T dU[l];  dZ[l-1] = dA[l-1] * relu'(Z[l-1])
    with s = 1/m for "deferred" (on dgamma, dbeta too), 1 otherwise; m: the global m of a shard.
    sync: BN's sums over all shards (sync_batchnorm_backward). G: group_backward's micro-batches.
    """
    m = Y.shape[1] if m is None else m
    dZ = backprop.output_dZL(activations.sigmoid(ZL), Y, caches, output="sigmoid", start="dZL", placement=placement,
                             m=m)  # (1, m)
    grads, factors, dA = [None] * len(params), {}, None
    for l in range(len(params), 0, -1):
        layer, cache = params[l - 1], caches[l - 1]
        if l < len(params):
            dZ = backprop.activation_backward(dA, cache.Z, activation="relu")  # dA[l] from layer l+1
        factors[f"Z[{l}]"] = dZ
        if l < len(params):
            if G is not None:
                dx, dgamma, dbeta = group_backward(dZ, cache.bn, G)
            else:
                dx, dgamma, dbeta = (sync_batchnorm_backward if sync else layers.batchnorm_backward)(dZ.T, cache.bn)
                dx = dx.T
            factors[f"U[{l}]"] = dZ = jnp.where(batchnorm, dx, dZ)  # (n_l, m)
            dgamma = jnp.where(batchnorm, dgamma, 0)  # dbeta = sum_i dZ[l] in both nets
            if placement == "deferred":
                dgamma, dbeta = backprop.over_m(dgamma, m), backprop.over_m(dbeta, m)
        dA, dW, db = backprop.linear_backward(dZ, cache.A_prev, layer.W, placement=placement, m=m)
        grads[l - 1] = BNLayer(dW, dgamma, dbeta) if l < len(params) else model.Layer(dW, db)
    return tuple(grads), factors


def group_means(B, m, dtype):
    """G (m, m): A @ G puts in each column the mean of its micro-batch's columns (blocks of B)."""
    group = jnp.arange(m) // B
    return (group[:, None] == group[None, :]).astype(dtype) / B


class GroupCache(NamedTuple):
    x_hat: jax.Array  # (n_l, m)
    sigma: jax.Array  # (n_l, m): each column its micro-batch's sqrt(var + eps)
    gamma: jax.Array  # (n_l,)


def group_forward(U, layer, G, *, eps):
    """Batch norm of every micro-batch at once (Ng's layout): mu = U G, var = (U - mu)^2 G."""
    xmu = U - U @ G
    sigma = jnp.sqrt((xmu**2) @ G + eps)
    x_hat = xmu / sigma  # (n_l, m)
    return layer.gamma[:, None] * x_hat + layer.beta[:, None], GroupCache(x_hat, sigma, layer.gamma)


def group_backward(dZ, cache, G):
    """batchnorm_backward_alt's closed form with the means over each micro-batch; returns (dU, dgamma, dbeta).

        dU = (dx_hat - dx_hat G - x_hat ((dx_hat x_hat) G)) / sigma,   dx_hat = gamma dZ
    """
    dx_hat = cache.gamma[:, None] * dZ
    dU = (dx_hat - dx_hat @ G - cache.x_hat * ((dx_hat * cache.x_hat) @ G)) / cache.sigma
    return dU, jnp.sum(dZ * cache.x_hat, axis=1), jnp.sum(dZ, axis=1)


def grouped_grads(params, X, Y, batchnorm, G, *, eps):
    """The mean of the micro-batch gradients (micro-batches given by G) in one pass over the whole batch.

    For equal micro-batches the mean of their (1/B) sums is the (1/m) sum over all examples, each
    example's terms taken with its own micro-batch's statistics: backward with m and G.
    """
    A, caches = X, []
    for l, layer in enumerate(params, start=1):
        if l < len(params):
            U = layer.W @ A  # (n_l, m)
            Z_bn, bn = group_forward(U, layer, G, eps=eps)
            Z = jnp.where(batchnorm, Z_bn, U + layer.beta[:, None])
        else:
            Z, bn = layer.W @ A + layer.b, None
        caches.append(Cache(A, Z, bn))
        A = activations.relu(Z)
    return backward(params, tuple(caches), Z, Y, batchnorm, placement="deferred", G=G)[0]


def losses(params, X, Y, batchnorm, deltas=None, *, stats="batch", eps):
    """The m per-example losses L(i) (m,), each computed inside the batch X."""
    ZL, _ = forward(params, X, batchnorm, stats=stats, eps=eps, deltas=deltas)
    return costs.loss_from_logits(ZL, Y, output="sigmoid")[0]


def grads_of(params, X, Y, batchnorm, *, eps):
    """Hand-written grads of J = (1/m) sum_i L(i) on the batch X (deferred placement)."""
    ZL, caches = forward(params, X, batchnorm, eps=eps)
    return backward(params, caches, ZL, Y, batchnorm, placement="deferred")[0]


def per_example(params, X, Y, batchnorm, *, eps):
    """Per-example gradients inside the batch, statistics coupled and frozen, by lax.map over i.

    Returns {"coupled": (grads, own), "frozen": (grads, own)}: grads = dL(i)/dparams with a
    leading axis m, own = {name: dL(i)/dZ[:, i]} (m, n_l) for every position U[l], Z[l].
    """
    m = X.shape[1]
    deltas = {k: jnp.zeros((n, m), X.dtype) for k, n in positions(params).items()}

    def one(i):
        out = {}
        for stats, name in (("batch", "coupled"), ("frozen", "frozen")):
            g_params, g_deltas = jax.grad(lambda p, d, s=stats: losses(p, X, Y, batchnorm, d, stats=s, eps=eps)[i],
                                          argnums=(0, 1))(params, deltas)
            out[name] = g_params, {k: v[:, i] for k, v in g_deltas.items()}
        return out

    return lax.map(one, jnp.arange(m), batch_size=min(m, 128))


def device_grads(params, X, Y, batchnorm, *, eps):
    """One shard's part along AXIS: (its own gradient, pmean of those, gradient with synchronised statistics)."""
    own = grads_of(params, X, Y, batchnorm, eps=eps)  # the shard's mean cost, the shard's statistics
    ZL, caches = forward(params, X, batchnorm, stats="sync", eps=eps)
    synced, _ = backward(params, caches, ZL, Y, batchnorm, placement="deferred", m=lax.psum(X.shape[1], AXIS),
                         sync=True)
    return own, lax.pmean(own, AXIS), lax.psum(synced, AXIS)


def flat(tree):
    return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


def gap(a, b):
    """Ng's relative error of two gradient trees (or arrays) as one vector."""
    return _common.rel_error_in_jit(flat(a), flat(b))


def shards(A, k):
    """(n, m) -> (k, n, m/k): k contiguous blocks of columns."""
    return A.reshape(A.shape[0], k, A.shape[1] // k).transpose(1, 0, 2)


def mean0(tree):
    return jax.tree.map(lambda g: jnp.mean(g, axis=0), tree)


def index(tree, i):
    return jax.tree.map(lambda g: g[i], tree)


@fast_jit(static_argnames=("eps", "micro_batch_sizes"))
def measure(params, X, Y, batchnorm, *, eps, micro_batch_sizes):
    """(3), (4) but the literal program, and dZ against m dJ/dZ, for one net at one point params.

    Returns (gaps: a dict of scalars and micro (n_B,), (the batch gradient, its dZ factors), the
    grouped grads with a leading axis n_B).
    """
    m = X.shape[1]
    ZL, caches = forward(params, X, batchnorm, eps=eps)
    deferred, dZ = backward(params, caches, ZL, Y, batchnorm, placement="deferred")
    absorbed, _ = backward(params, caches, ZL, Y, batchnorm, placement="absorbed")
    zeros = {k: jnp.zeros_like(v) for k, v in dZ.items()}
    reference, dJ_dZ = jax.grad(lambda p, d: jnp.mean(losses(p, X, Y, batchnorm, d, eps=eps)), argnums=(0, 1))(
        params, zeros)
    out = {"grad_norm": jnp.linalg.norm(flat(deferred)),  # for scale: the gaps are relative to it
           "deferred_vs_absorbed": gap(deferred, absorbed), "deferred_vs_autodiff": gap(deferred, reference),
           "absorbed_vs_autodiff": gap(absorbed, reference),
           "deferred_vs_absorbed_worst_leaf": jnp.max(jnp.stack([_common.rel_error_in_jit(a, b) for a, b in zip(
               jax.tree.leaves(deferred), jax.tree.leaves(absorbed), strict=True)]))}
    for k in dZ:  # the hand-written factor is m dJ/dZ; is its column i example i's own gradient?
        out[f"dZ|{k}|m_dJdZ"] = _common.rel_error_in_jit(dZ[k], m * dJ_dZ[k])
    Gs = jax.vmap(lambda B: group_means(B, m, X.dtype))(jnp.asarray(micro_batch_sizes))  # (n_B, m, m)
    accumulated = jax.vmap(lambda G: grouped_grads(params, X, Y, batchnorm, G, eps=eps))(Gs)
    out["micro"] = jax.vmap(lambda g: gap(g, deferred))(accumulated)  # (n_B,)
    return out, (deferred, dZ), accumulated


@functools.partial(jax.jit, static_argnames=("eps",))  # XLA's defaults: its run time grows as m^2
def per_example_gaps(params, X, Y, batchnorm, deferred, dZ, *, eps):
    """(1), (2): the mean of the per-example gradients vs the batch gradient; dZ's columns vs the own ones."""
    out = {}
    for name, (per, own) in per_example(params, X, Y, batchnorm, eps=eps).items():
        out[f"mean_{name}_vs_batch"] = gap(mean0(per), deferred)
        for k, columns in own.items():  # columns (m, n_l): row i is dL(i)/dZ[:, i]
            out[f"dZ|{k}|{name}"] = _common.rel_error_in_jit(dZ[k], columns.T)
    return out


@fast_jit(static_argnames=("eps", "n_devices", "i"))
def literal(params, X, Y, batchnorm, full, accumulated, *, eps, n_devices, i):
    """The literal program on D = n_devices shards (vmap with an axis name): gaps to the full and grouped grads.

    accumulated[i]: the grouped grads of B = m/D. Returns (gaps, (per-shard statistics grads, synchronised grads)).
    """
    grouped = index(accumulated, i)
    own, local, synced = jax.vmap(functools.partial(device_grads, eps=eps), in_axes=(None, 0, 0, None),
                                  axis_name=AXIS)(params, shards(X, n_devices), shards(Y, n_devices), batchnorm)
    local, synced = index(local, 0), index(synced, 0)  # the same on every shard
    return {"local_vs_full": gap(local, full), "local_vs_grouped": gap(local, grouped),
            "sync_vs_full": gap(synced, full),
            "one_vs_full": jnp.mean(jax.vmap(lambda g: gap(g, full))(own))}, (local, synced)  # one micro-batch alone


@fast_jit(static_argnames=("mesh", "eps"))
def on_mesh(params, X, Y, batchnorm, simulated, *, mesh, eps):
    """device_grads on real devices (contiguous column blocks, one per device) against literal's vmapped ones."""
    real = jax.shard_map(lambda *a: device_grads(*a, eps=eps)[1:], mesh=mesh,
                         in_specs=(P(), P(None, AXIS), P(None, AXIS), P()), out_specs=P())(params, X, Y, batchnorm)
    return {f"mesh_{k}_vs_vmap": gap(r, s) for k, r, s in zip(("local", "sync"), real, simulated, strict=True)}


@fast_jit(static_argnames=("num_iterations", "eps"))
def train(params, X, Y, batchnorm, learning_rate, *, num_iterations, eps):
    """Full-batch gradient descent by the hand-written grads: (params, [cost before, cost at the last step])."""
    def grad_fn(p, X, Y):
        ZL, caches = forward(p, X, batchnorm, eps=eps)
        J = jnp.mean(costs.loss_from_logits(ZL, Y, output="sigmoid"))
        return J, backward(p, caches, ZL, Y, batchnorm, placement="deferred")[0]
    params, costs_t, _ = _common.gd(params, X, Y, grads_fn=grad_fn, learning_rate=learning_rate,
                                    num_iterations=num_iterations, with_accuracy=False)
    return params, costs_t[jnp.asarray([0, -1])]


# ---------------------------------------------------------------- run, summary, outputs
MESH_DEVICES = 8  # CPU devices a standalone run asks for, for the literal program on a real mesh


@fast_jit(static_argnames=("m", "dtype"))
def data(seed, *, m, dtype):
    """m two-moons examples (X (2, m), Y (1, m)), the same for every seed, in the seed's own random order.

    The order decides which examples share a micro-batch (contiguous blocks of columns); the rest is
    order-free. Generated in class order, so every order here mixes the classes.
    """
    X, Y = datasets.moons(jax.random.key(0), m, dtype=dtype)
    order = jax.random.permutation(jax.random.fold_in(jax.random.key(seed), 1), m)
    return X[:, order], Y[:, order]


def sizes_of(cfg):
    """The micro-batch sizes measured: the configured ones, m/D for each device count, and m."""
    sizes = sorted({*cfg.micro_batch_sizes, *(cfg.m // D for D in cfg.device_counts), cfg.m})
    bad = [B for B in cfg.micro_batch_sizes if B < 1 or cfg.m % B] + [D for D in cfg.device_counts if cfg.m % D]
    if bad:
        raise ValueError(f"micro-batch sizes and device counts must divide m = {cfg.m}; got {bad}")
    return tuple(sizes)


def claim(net, key, *, L, m):
    """What the Expected section predicts for a gap: "round-off", "coupled" (well above it) or "noise"."""
    if key == "grad_norm":
        return "value"  # not a gap
    if key.endswith("one_vs_full"):
        return "noise"  # one micro-batch against the full batch: sampling, in both nets
    if net == "plain":
        return "round-off"
    below_last_bn = key.startswith("dZ|U[") or any(key.startswith(f"dZ|Z[{l}]") for l in range(1, L - 1))
    if (below_last_bn and not key.endswith("m_dJdZ")) or key == "mean_frozen_vs_batch" \
            or key.endswith("local_vs_full") or (key.startswith("micro|") and key != f"micro|{m}"):
        return "coupled"
    return "round-off"


def run(cfg, *, cache=None):
    layer_dims = (2, *cfg.hidden_dims, 1)
    sizes = sizes_of(cfg)
    cpu = jax.devices("cpu")
    meshes = {D: parallel.make_mesh(cpu[:D]) for D in cfg.device_counts if D <= len(cpu)}
    out = {"m": cfg.m, "layer_dims": layer_dims, "micro_batch_sizes": sizes, "device_counts": cfg.device_counts,
           "cpu_devices": len(cpu), "nets": {}}
    for net in _common.progress(NETS, NAME):
        def compute(net=net):
            batchnorm = jnp.asarray(net == "batchnorm")
            gaps, mesh, J = {s: [] for s in STATES}, {s: {} for s in STATES}, []
            for seed in range(cfg.seeds):
                X, Y = data(seed, m=cfg.m, dtype=jnp.float64)
                params = init(seed, layer_dims=layer_dims, dtype=X.dtype)
                trained, costs_t = train(params, X, Y, batchnorm, cfg.learning_rate, num_iterations=cfg.num_iterations,
                                         eps=cfg.eps)
                J.append(costs_t)
                for state, p in (("init", params), ("trained", trained)):
                    g, (full, dZ), accumulated = measure(p, X, Y, batchnorm, eps=cfg.eps, micro_batch_sizes=sizes)
                    g = jax.device_get(g) | jax.device_get(per_example_gaps(p, X, Y, batchnorm, full, dZ, eps=cfg.eps))
                    micro = g.pop("micro")
                    if net == "batchnorm":  # in the plain net G plays no part: grouped_grads is its full gradient
                        g.update({f"micro|{B}": v for B, v in zip(sizes, micro, strict=True)})
                    for D in cfg.device_counts:
                        lit, simulated = literal(p, X, Y, batchnorm, full, accumulated, eps=cfg.eps, n_devices=D,
                                                 i=sizes.index(cfg.m // D))
                        g.update({f"devices|{D}|{k}": v for k, v in lit.items()})
                        if seed == 0 and D in meshes:  # the same program on D real devices
                            on = on_mesh(p, X, Y, batchnorm, simulated, mesh=meshes[D], eps=cfg.eps)
                            mesh[state][D] = jax.device_get(on)
                    gaps[state].append(jax.device_get(g))
            return {"gaps": {s: {k: [r[k] for r in rows] for k in rows[0]} for s, rows in gaps.items()},
                    "mesh": mesh, "costs": J}
        out["nets"][net] = _common.part(cache, net, compute)
    out["stats"], out["summary"] = summarize(out)
    out["rows"] = [{"net": net, "state": state, "gap": k, "claim": claim(net, k, L=len(layer_dims) - 1, m=cfg.m), **v}
                   for net, per in out["stats"].items() for state, d in per.items() for k, v in d.items()]
    return out


def summarize(out):
    """Min, median, max over seeds of every gap; and the headline numbers the report and tests read."""
    L = len(out["layer_dims"]) - 1
    stats = {net: {state: {k: {"min": float(np.min(v)), "median": float(np.median(v)), "max": float(np.max(v))}
                           for k, v in r["gaps"][state].items()} for state in STATES}
             for net, r in out["nets"].items()}
    s = {"m": out["m"], "L": L, "seeds": len(out["nets"]["plain"]["costs"])}
    for net, per in stats.items():
        cells = [(state, k, v) for state, d in per.items() for k, v in d.items()]
        for kind, pick, worst in (("round-off", "max", max), ("coupled", "min", min)):
            chosen = [(v[pick], f"{state} {k}") for state, k, v in cells if claim(net, k, L=L, m=out["m"]) == kind]
            if chosen:
                s[f"{net}|worst_{kind}"], s[f"{net}|worst_{kind}_at"] = worst(chosen)
        mesh = [v for state in STATES for d in out["nets"][net]["mesh"][state].values() for v in d.values()]
        s[f"{net}|mesh_max"] = max(mesh) if mesh else None
        c = np.asarray(out["nets"][net]["costs"], np.float64)
        s[f"{net}|cost_initial"], s[f"{net}|cost_trained"] = float(np.median(c[:, 0])), float(np.median(c[:, 1]))
    s["mesh_devices"] = sorted({int(D) for r in out["nets"].values() for d in r["mesh"].values() for D in d})
    return stats, s


def figures(out):
    plt = _common.pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6))
    st, sizes, m = out["stats"], out["micro_batch_sizes"], out["m"]
    floor = 1e-18  # an exact 0 drawn on the log axis

    def y(net, state, key, pick="median"):
        return max(st[net][state][key][pick], floor)

    for (net, state), color in zip([(n, s) for n in ("batchnorm", "plain") for s in STATES], ("C3", "C1", "C0", "C2"),
                                   strict=True):
        if net == "batchnorm":  # in the plain net G plays no part: its only micro-batch numbers are the literal ones
            ax1.plot(sizes, [y(net, state, f"micro|{B}") for B in sizes], "-o", ms=4, color=color,
                     label=f"{net}, {state}: mean of micro-batch grads (min-max over seeds)")
            ax1.fill_between(sizes, [y(net, state, f"micro|{B}", "min") for B in sizes],
                             [y(net, state, f"micro|{B}", "max") for B in sizes], color=color, alpha=0.15)
        Bs = [m // D for D in out["device_counts"]]
        ax1.plot(Bs, [y(net, state, f"devices|{D}|local_vs_full") for D in out["device_counts"]], "s", mfc="none",
                 ms=10, color=color, label=None if net == "batchnorm" else f"{net}, {state}")
        ax1.plot(Bs, [y(net, state, f"devices|{D}|sync_vs_full") for D in out["device_counts"]], "x", ms=9,
                 color=color)
        ax1.plot(Bs, [y(net, state, f"devices|{D}|one_vs_full") for D in out["device_counts"]], "^", ms=7,
                 color=color, alpha=0.6)
    ax1.plot([], [], "ks", mfc="none", label="D = m/B shards, per-shard statistics, pmean (literal)")
    ax1.plot([], [], "kx", label="D shards, synchronised statistics")
    ax1.plot([], [], "k^", alpha=0.6, label="one micro-batch alone (sampling noise)")
    ax1.set(xscale="log", yscale="log", xlabel="micro-batch size B (B = 1: every example alone)",
            ylabel="rel. gap to the full-batch gradient", title=f"accumulating m/B micro-batches, m = {m}, float64")
    ax1.set_xscale("log", base=2)
    ax1.legend(fontsize=7)
    names = list(positions_of(out))
    x = np.arange(len(names))
    for i, (net, state, kind, marker) in enumerate([(n, s, k, mk) for n in ("batchnorm", "plain") for s in STATES
                                                    for k, mk in (("coupled", "o"), ("frozen", "D"))]):
        ax2.plot(x + 0.08 * (i - 3.5), [y(net, state, f"dZ|{k}|{kind}") for k in names], marker, ls="none",
                 color=("C3", "C1", "C0", "C2")[i // 2], mfc="none" if kind == "frozen" else None,
                 label=f"{net}, {state}, {kind}")
    ax2.set_xticks(x, [f"d{k}" for k in names])
    ax2.set(yscale="log", ylabel="rel. gap: deferred dZ vs own dL(i)/dZ[:, i]",
            title="is column i of dZ example i's own gradient? (lower = yes)")
    ax2.legend(fontsize=7, ncol=2)
    return [("coupled_examples.png", fig)]


def positions_of(out):
    return {k.split("|")[1]: None for k in out["stats"]["plain"]["init"] if k.startswith("dZ|")}


def report_section(result):
    """The report's Markdown for this question (without its heading, TITLE), every number read from result.

    result: results.json's "results" (the whole record is accepted too).
    """
    from ._report_text import g, table

    r = result.get("results", result) if "metadata" in result else result
    st, s, m = r["stats"], r["summary"], r["m"]
    sizes, counts, L = r["micro_batch_sizes"], r["device_counts"], s["L"]

    def med(state, key, net="batchnorm"):
        return st[net][state][key]["median"]

    def worst(key, net="batchnorm", pick="max"):
        return (max if pick == "max" else min)(st[net][state][key][pick] for state in STATES)

    def both(key, net="batchnorm"):
        return f"{g(med('init', key, net))} at init, {g(med('trained', key, net))} after training"

    names = [k.split("|")[1] for k in st["batchnorm"]["init"] if k.startswith("dZ|") and k.endswith("|coupled")]
    below = [k for k in names if claim("batchnorm", f"dZ|{k}|coupled", L=L, m=m) == "coupled"]
    above = [k for k in names if k not in below]
    mesh = (f"on {', '.join(map(str, s['mesh_devices']))} real CPU devices (shard_map) the program agrees with its "
            f"vmapped version to {g(max(s['plain|mesh_max'], s['batchnorm|mesh_max']))}"
            if s["mesh_devices"] else "no real devices were run (one CPU device in this process)")
    text = (f"Setup: {r['layer_dims']} relu/sigmoid net on {m} two-moons examples, float64, {s['seeds']} seeds, at "
            f"He init and after full-batch training (batch norm cost {g(s['batchnorm|cost_initial'])} to "
            f"{g(s['batchnorm|cost_trained'])}); medians over seeds unless said. Gaps are Ng's relative error.\n\n"
            f"**Without batch norm every reading holds to round-off**: the mean of the per-example gradients against "
            f"the batch gradient, each column of dZ[l] against its example's own dL(i)/dZ[l], deferred against "
            f"absorbed, micro-batch accumulation and a pmean over shards against the full batch: the largest gap over "
            f"all seeds, states and comparisons is {g(s['plain|worst_round-off'])} "
            f"({s['plain|worst_round-off_at']}).\n\n"
            f"**With batch norm in train mode the 1/m is still exactly where it was.** J = (1/m) sum_i L(i) is still "
            f"a mean, so dJ/dtheta is still the mean of the dL(i)/dtheta when each L(i) is differentiated as the "
            f"forward pass computes it, batch statistics included (\"coupled\"): largest gap "
            f"{g(worst('mean_coupled_vs_batch'))}. Deferred and absorbed give the same dW, dgamma, dbeta to "
            f"{g(worst('deferred_vs_absorbed_worst_leaf'))} per parameter (m = {m}; BN's backward by hand, "
            f"jaxbp.layers.batchnorm_backward), both jax.grad's to {g(worst('deferred_vs_autodiff'))}: the 1/m is "
            f"one scalar on J, and where it is applied is exact. The deferred factor is m dJ/dZ[l] as before "
            f"(to {g(max(worst(f'dZ|{k}|m_dJdZ') for k in names))}).\n\n"
            f"**What breaks is the per-example reading.** Each dL(i)/dtheta now depends on every example, so it is no "
            f"longer \"example i's own\". Taking the statistics as constants (\"frozen\", stop_gradient) gives "
            f"per-example gradients whose mean misses the batch gradient by {both('mean_frozen_vs_batch')}; an "
            f"example alone, as a batch of 1, has x_hat = 0 and gives its hidden layers no gradient at all "
            f"(mean gap {both(f'micro|{sizes[0]}')}, B = {sizes[0]} below). Column i of dZ = m dJ/dZ = sum_j "
            f"dL(j)/dZ[:, i] is example i's own gradient only above the last batch norm "
            f"({', '.join('d' + k for k in above)}: "
            f"largest gap {g(max(worst(f'dZ|{k}|{c}') for k in above for c in ('coupled', 'frozen')))}); below it the "
            f"columns carry the other examples' gradients through the statistics:\n\n")
    text += table(["factor", "own, coupled: init", "trained", "own, frozen: init", "trained"],
                  [("d" + k, *(g(med(state, f"dZ|{k}|{c}")) for c in ("coupled", "frozen") for state in STATES))
                   for k in below])
    text += ("\n\nCoupled and frozen own columns are nearly the same (they differ by example i's own share of the "
             "statistics, O(1/m)); both miss the cross terms, which the column needs.\n\n"
             "**Micro-batches and devices.** Accumulating m/B micro-batches, each normalised by its own statistics, "
             "differentiates another function. Gap of the mean of the micro-batch gradients to the full-batch "
             f"gradient (m = {m}; the gradient's norm is {both('grad_norm')}):\n\n")
    text += table(["B", "batch norm, init", "batch norm, trained"],
                  [(B, g(med("init", f"micro|{B}")), g(med("trained", f"micro|{B}"))) for B in sizes])
    rises = [f"B = {B1} to {B2} ({state}: {g(med(state, f'micro|{B1}'))} to {g(med(state, f'micro|{B2}'))})"
             for state in STATES for B1, B2 in zip(sizes[1:-1], sizes[2:-1], strict=False)
             if B1 > 1 and med(state, f"micro|{B2}") >= med(state, f"micro|{B1}")]
    text += ("\n\nFrom B = 2 on it falls as B grows" + (f", but for {', '.join(rises)}" if rises else "")
             + f", and is round-off at B = m ({g(worst(f'micro|{m}'))}); B = 1, each example alone, is the degenerate "
             f"case above. The literal program, "
             f"D = m/B shards each normalised by its own statistics and a pmean (data parallelism without "
             f"synchronised batch norm, and gradient accumulation alike), gives the same gaps to "
             f"{g(max(worst(f'devices|{D}|local_vs_grouped') for D in counts))} for D = "
             f"{', '.join(map(str, counts))} (without batch norm it matches the full batch to "
             f"{g(max(worst(f'devices|{D}|local_vs_full', 'plain') for D in counts))}); {mesh}. Synchronising "
             f"the statistics (psum of the sums forward, of BN's two sums backward) restores the full-batch gradient: "
             f"{g(max(worst(f'devices|{D}|sync_vs_full') for D in counts))}. For scale, one micro-batch's own "
             f"gradient is off by " + ", ".join(f"{g(med(state, f'devices|{D}|one_vs_full'))} (B = {m // D}, {state})"
                                                for D in counts[-1:] for state in STATES)
             + " (sampling noise, which accumulation averages away; the statistics' bias it does not). "
             "**So:** the 1/m stays a scalar on J and its placement stays exact; what batch norm removes is the "
             "decomposition of the gradient into per-example pieces computed from one example each, and with it the "
             "equivalence of micro-batch accumulation, unsynchronised data parallelism and the full-batch step.")
    return text


def main(argv=None):
    cfg = _common.parse_config(Config, argv, NAME)
    wanted = min(max(cfg.device_counts, default=1), MESH_DEVICES)
    if jax.config.jax_num_cpu_devices < wanted:  # never fewer than the process (e.g. the tests) already asked for
        try:  # a standalone run gets CPU devices for the mesh check; once JAX has started, this is fixed
            jax.config.update("jax_num_cpu_devices", wanted)
        except RuntimeError:
            pass
    with _common.precision():
        cache = _common.PartCache(cfg.out_dir, cfg)
        out = run(cfg, cache=cache)
        st = out["stats"]
        table = [{"gap": k, **{f"{net} {state}": st[net][state][k]["median"] for net in NETS for state in STATES
                               if k in st[net][state]}} for k in st["batchnorm"]["init"]]
        _common.print_table(table, ["gap", *(f"{net} {state}" for net in NETS for state in STATES)])
        print("median over seeds; " + "; ".join(f"{k} = {v if not isinstance(v, float) else f'{v:.3g}'}"
                                                 for k, v in out["summary"].items() if "worst" in k))
        _common.write_outputs(cfg.out_dir, NAME, cfg, out, rows=out["rows"], figures=figures(out),
                              compute_seconds=cache.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
