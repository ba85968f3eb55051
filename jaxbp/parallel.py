"""Data parallelism over a device mesh: the m columns of X and Y sharded, params replicated.

Contract
    A 1-D mesh of D devices (axis "batch", built from the devices given, or from jax.devices(),
    which spans every process under jax.distributed). Shard k holds n_k real examples, padded to
    a common width with zero columns that mask = 0 marks. With m = sum_k n_k the global cost is
        J = (1/m) sum_i L(i)   (placement "deferred"/"absorbed";  "sum": J = sum_i L(i))
    and its exact gradient is
        dW = psum_k( sum_{i in k} dW(i) ) / psum_k( n_k )         sums and counts, both summed
    for any n_k. The naive pmean of local means, (1/D) sum_k (1/n_k) sum_{i in k} dW(i), weighs
    each shard by 1/D instead of n_k/m; it is wrong by  sum_k (1/D - n_k/m) mean_k  (pmean_error)
    whenever the n_k differ and the local means differ.
    `divide` puts the 1/m before or after the cross-device psum:
        "before"  each device divides by the global m where its placement says (absorbed: dZ[L]/m,
                  deferred: dW/m) and the psum adds terms already divided: small terms may underflow
        "after"   each device sums (the core's placement "sum"), psum, then divide: the sum may overflow
    Local sums come from the core's output_dZL and backward_from with the mask (or jax.grad of the
    core's masked cost). m itself is kept in float32 (or wider): float16 cannot hold m > 65504,
    and the division is backprop.over_m's (done in float32 at least, rounded back).
    In float16 overflow (Inf) ruins a step while underflow only loses the tiniest terms, so the
    default is "before" (measured in experiments/device_averaging.py; README, section parallel).
"""

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxbp import activations, backprop, model, shapes
from jaxbp.training import train

AXIS = "batch"
Source = Literal["backprop", "autodiff"]
Divide = Literal["before", "after"]


def make_mesh(devices=None):
    """A 1-D Mesh over `devices` (default: jax.devices(), all processes' devices) with axis "batch"."""
    devices = jax.devices() if devices is None else list(devices)
    if len(devices) == 0:
        raise ValueError("devices must hold at least one device, got none")
    return Mesh(np.array(devices), (AXIS,))


def _mesh_of(mesh, devices):
    if mesh is not None and devices is not None:
        raise ValueError("give mesh or devices, not both")
    if mesh is None:
        return make_mesh(devices)
    if not isinstance(mesh, Mesh) or mesh.axis_names != (AXIS,):
        raise ValueError(f"mesh must be a 1-D Mesh with axis ('{AXIS}',) (see make_mesh), got {mesh}")
    return mesh


def even_counts(m, n_devices):
    """n_k for m examples on D devices, as even as possible: the first m mod D shards get one more."""
    return tuple(m // n_devices + (k < m % n_devices) for k in range(n_devices))


def pad_shards(X, Y, counts):
    """Lay out X (n_x, m), Y (n_y, m) as D shards of n_k columns, each zero-padded to max_k n_k.

    Returns (X_padded (n_x, D s), Y_padded (n_y, D s), mask (1, D s)) with s = max_k n_k; shard k
    is columns k s .. (k+1) s - 1, and mask is 1 on its first n_k columns, 0 on the padding.
    """
    m = X.shape[1]
    if any(int(n) < 0 for n in counts) or sum(counts) != m:
        raise ValueError(f"counts must be non-negative and sum to m = {m}, got {tuple(counts)}")
    s = max(max(counts), 1)
    starts = np.cumsum((0,) + tuple(counts))
    pieces = []
    for A in (X, Y, jnp.ones((1, m), X.dtype)):
        shards = [A[:, starts[k]:starts[k + 1]] for k in range(len(counts))]
        pieces.append(jnp.concatenate([jnp.pad(S, ((0, 0), (0, s - S.shape[1]))) for S in shards], axis=1))
    return tuple(pieces)


def _shard_grads(params, X, Y, mask, m, hidden, output, placement, start, source):
    """Shard k's sum_{i in k} dW(i) from the core (mask drops padding), divided by m where placement puts it.

        absorbed  dZ[L] / m before backward_from        deferred  dW / m, db / m after it
    m=None divides nowhere (the local sum). source="autodiff": jax.grad of the masked sum, then / m.
    """
    if source == "autodiff":
        # Under shard_map, jax.grad w.r.t. replicated params would psum over devices by itself (the
        # transpose of replication); marking them device-varying keeps this grad local to the shard,
        # so the one cross-device sum is the caller's explicit psum, the same for both sources.
        params = lax.pcast(params, AXIS, to="varying")
        grads = jax.grad(model._cost)(params, X, Y, hidden, output, "sum", None, mask)
        return grads if m is None else jax.tree.map(lambda d: backprop.over_m(d, m), grads)
    AL, caches = model._forward(params, X, hidden, output)
    dZL = backprop.output_dZL(AL, Y, caches, output=output, start=start, placement="sum", m=None, mask=mask)
    if m is not None and placement == "absorbed":
        dZL = backprop.over_m(dZL, m)  # (n_y, m_k), the 1/m folded into dZ[L]
    grads = backprop.backward_from(dZL, params, caches, hidden=hidden, placement="sum")
    if m is not None and placement == "deferred":
        grads = jax.tree.map(lambda d: backprop.over_m(d, m), grads)
    return grads


def _count_dtype(dtype):
    return jnp.promote_types(dtype, jnp.float32)  # m = 65536 is Inf in float16; keep it in float32


def _exact(params, X, Y, mask, *, hidden, output, placement, start, source, divide):
    n_k = jnp.sum(mask.astype(jnp.int32))
    m = lax.psum(n_k, AXIS).astype(_count_dtype(X.dtype))  # the global m = sum_k n_k, from the masks
    if placement == "sum":
        return lax.psum(_shard_grads(params, X, Y, mask, None, hidden, output, "sum", start, source), AXIS)
    if divide == "before":  # sum_k (1/m) sum_{i in k} dW(i)
        return lax.psum(_shard_grads(params, X, Y, mask, m, hidden, output, placement, start, source), AXIS)
    grads = lax.psum(_shard_grads(params, X, Y, mask, None, hidden, output, placement, start, source), AXIS)
    return jax.tree.map(lambda d: backprop.over_m(d, m), grads)  # (1/m) sum_k sum_{i in k} dW(i)


def _naive(params, X, Y, mask, *, hidden, output, placement, start, source, divide):
    n_k = jnp.sum(mask.astype(jnp.int32)).astype(_count_dtype(X.dtype))  # this shard's own m
    grads = _shard_grads(params, X, Y, mask, n_k, hidden, output, placement, start, source)
    return lax.pmean(grads, AXIS)  # (1/D) sum_k mean_k


_STATIC = ("mesh", "hidden", "output", "placement", "start", "source", "divide", "exact")


def _grads_on_mesh(params, X, Y, mask, *, mesh, exact, **choices):
    body = _exact if exact else _naive
    sharded = jax.shard_map(lambda p, x, y, k: body(p, x, y, k, **choices), mesh=mesh,
                            in_specs=(P(), P(None, AXIS), P(None, AXIS), P(None, AXIS)), out_specs=P())
    return sharded(params, X, Y, mask)


_grads_on_mesh_jit = jax.jit(_grads_on_mesh, static_argnames=_STATIC)


def _validated(params, X, Y, mesh, devices, counts, hidden, output, placement, start, source, divide):
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    shapes.choice("source", source, ("backprop", "autodiff"))
    shapes.choice("divide", divide, ("before", "after"))
    if source == "backprop" and start == "dZL" and output == "tanh":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh'; use start='dAL'")
    shapes.data(params, X, Y, output=output)
    mesh = _mesh_of(mesh, devices)
    n_devices = mesh.devices.size
    counts = even_counts(X.shape[1], n_devices) if counts is None else tuple(int(n) for n in counts)
    if len(counts) != n_devices:
        raise ValueError(f"counts must have one n_k per device ({n_devices}), got {len(counts)}")
    X, Y, mask = pad_shards(X, Y.astype(X.dtype), counts)
    columns = NamedSharding(mesh, P(None, AXIS))
    params = jax.device_put(params, NamedSharding(mesh, P()))
    X, Y, mask = (jax.device_put(A, columns) for A in (X, Y, mask))
    return params, X, Y, mask, mesh


def data_parallel_grads(params, X, Y, *, mesh=None, devices=None, counts=None, hidden="relu", output="sigmoid",
                        placement="deferred", start="dZL", source: Source = "backprop", divide: Divide = "before"):
    """grads of the global J over all m columns, computed with X, Y sharded over a mesh's devices.

        n_k = sum(mask_k);  m = psum_k n_k                                   global m from the masks
        divide="before":  dW = psum_k( sum_{i in k} dW(i) / m )     (1/m where placement puts it)
        divide="after":   dW = psum_k( sum_{i in k} dW(i) ) / m
    sum_{i in k} dW(i) is the core backward (placement "sum", mask_k) or, for source="autodiff",
    jax.grad of the core's masked sum cost. placement="sum" never divides (J = sum_i L(i)).
    counts (n_k per device, default as even as possible) lets shards differ in size on purpose.
    Returns a tuple of Layer(W=dW, b=db), replicated on every device; equal to the single-device
    grads of the same J up to the order of the floating-point sum.
    """
    params, X, Y, mask, mesh = _validated(params, X, Y, mesh, devices, counts, hidden, output, placement, start,
                                          source, divide)
    return _grads_on_mesh_jit(params, X, Y, mask, mesh=mesh, exact=True, hidden=hidden, output=output,
                              placement=placement, start=start, source=source, divide=divide)


def pmean_of_means_grads(params, X, Y, *, mesh=None, devices=None, counts=None, hidden="relu", output="sigmoid",
                         placement="deferred", start="dZL", source: Source = "backprop"):
    """The naive all-reduce, for demonstration: (1/D) sum_k mean_k, mean_k the grads of shard k's own mean.

    Correct only when every n_k = m/D; otherwise it is off by pmean_error(means, counts). Needs n_k >= 1.
    """
    if placement == "sum":
        raise ValueError("placement must be 'deferred' or 'absorbed' for a mean of means, got 'sum'")
    params, X, Y, mask, mesh = _validated(params, X, Y, mesh, devices, counts, hidden, output, placement, start,
                                          source, "before")
    return _grads_on_mesh_jit(params, X, Y, mask, mesh=mesh, exact=False, hidden=hidden, output=output,
                              placement=placement, start=start, source=source, divide="before")


def pmean_error(local_means, counts):
    """The predicted error of the pmean of local means: pmean - exact = sum_k (1/D - n_k/m) mean_k.

    local_means: a sequence of D grads trees, mean_k = (1/n_k) sum_{i in shard k} dW(i).
    It is zero when every n_k = m/D, or when every shard's mean is the same.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if len(local_means) != counts.size:
        raise ValueError(f"local_means must have one grads tree per count ({counts.size}), got {len(local_means)}")
    weights = 1 / counts.size - counts / counts.sum()  # (D,), they sum to 0
    return jax.tree.map(lambda *means: sum(w * g for w, g in zip(weights, means, strict=True)), *local_means)


def _train_one(key, learning_rate, X, Y, layer_dims, method, options):
    """One run of jaxbp.train from init_params(key): the key's first half inits, its second shuffles."""
    k_init, k_shuffle = jax.random.split(key)
    params = model.init_params(k_init, layer_dims, method=method, dtype=X.dtype)
    key = k_shuffle if options.get("batch_size") is not None else None
    return train(params, X, Y, learning_rate=learning_rate, key=key, **options)


def _sweep_on_mesh(keys, learning_rates, X, Y, *, mesh, layer_dims, method, options):
    options = dict(options)
    runs = jax.vmap(lambda k, a, x, y: _train_one(k, a, x, y, layer_dims, method, options), in_axes=(0, 0, None, None))
    # No collectives: each device trains its own configurations (check_vma off, as train's scan
    # carries params that are device-invariant at init and device-varying after one step).
    sharded = jax.shard_map(runs, mesh=mesh, in_specs=(P(AXIS), P(AXIS), P(), P()), out_specs=(P(AXIS), P(AXIS)),
                            check_vma=False)
    return sharded(keys, learning_rates, X, Y)


_sweep_jit = jax.jit(_sweep_on_mesh, static_argnames=("mesh", "layer_dims", "method", "options"))


def sweep(keys, X, Y, *, layer_dims, learning_rates, method="he", mesh=None, devices=None, **options):
    """Run jaxbp.train once per (keys[s], learning_rates[s]) as one vmapped computation over the devices.

        run s:  params = init_params(k_init_s, layer_dims);  train(params, X, Y, learning_rate=alpha_s,
                key=k_shuffle_s, **options)       with (k_init_s, k_shuffle_s) = split(keys[s])
    The S runs are split over the mesh's devices (S padded to a multiple of D by repeating the
    last run; the copies are dropped). options are train's keyword choices (hidden, output,
    optimizer, num_iterations, batch_size, placement, ...), the same for every run. Returns
    (params, costs): params a tuple of Layer with a leading axis S, costs (S, len of train's costs).
    """
    mesh = _mesh_of(mesh, devices)
    for name in ("learning_rate", "key", "mesh", "params"):
        if name in options:
            raise ValueError(f"sweep sets {name} itself; pass learning_rates (S,) and keys (S,) instead")
    layer_dims = tuple(int(n) for n in layer_dims)
    X = shapes.float_array("X", X)
    if len(layer_dims) < 2 or X.shape[0] != layer_dims[0]:
        raise ValueError(f"X must be (n_x, m) with n_x = layer_dims[0], got X {tuple(X.shape)}, "
                         f"layer_dims {layer_dims}")
    shapes.labels(Y, n_y=layer_dims[-1], m=X.shape[1], output=options.get("output", "sigmoid"))
    learning_rates = jnp.asarray(learning_rates, X.dtype)
    S = keys.shape[0] if keys.ndim == 1 else -1
    if keys.ndim != 1 or learning_rates.shape != (S,):
        raise ValueError(f"keys must be (S,) and learning_rates (S,), got {tuple(keys.shape)} and "
                         f"{tuple(learning_rates.shape)}")
    pad = -S % mesh.devices.size
    keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], pad, axis=0)])
    learning_rates = jnp.concatenate([learning_rates, jnp.repeat(learning_rates[-1:], pad)])
    params, J = _sweep_jit(keys, learning_rates, X, Y.astype(X.dtype), mesh=mesh, layer_dims=layer_dims,
                           method=method, options=tuple(sorted(options.items())))
    return jax.tree.map(lambda a: a[:S], params), J[:S]
