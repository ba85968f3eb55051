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
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxbp import activations, backprop, model, shapes
from jaxbp.optimizers import check_hyperparameter

AXIS = "batch"
Source = Literal["backprop", "autodiff"]
Divide = Literal["before", "after"]


def make_mesh(devices=None):
    """A 1-D Mesh over `devices` (default: jax.devices(), all processes' devices) with axis "batch"."""
    if devices is None:
        devices = jax.devices()
    if isinstance(devices, (str, bytes)) or not hasattr(devices, "__iter__"):
        raise ValueError(f"devices must be a sequence of jax devices (e.g. jax.devices('cpu')), got {devices!r}")
    devices = list(devices)
    if len(devices) == 0:
        raise ValueError("devices must hold at least one device, got none")
    for device in devices:
        if not isinstance(device, jax.Device):
            raise ValueError(f"devices must be a sequence of jax devices (e.g. jax.devices('cpu')), "
                             f"got an element {device!r}")
    if len(set(devices)) != len(devices):
        repeated = sorted({str(d) for d in devices if devices.count(d) > 1})
        raise ValueError(f"devices must be distinct, got {len(devices)} with repeats: {', '.join(repeated)}")
    return Mesh(np.array(devices), (AXIS,))


def _mesh_of(mesh, devices):
    if mesh is not None and devices is not None:
        raise ValueError("give mesh or devices, not both")
    if mesh is None:
        return make_mesh(devices)
    if not isinstance(mesh, Mesh) or mesh.axis_names != (AXIS,):
        raise ValueError(f"mesh must be a 1-D Mesh with axis ('{AXIS}',) (see make_mesh), got {mesh}")
    if len(set(mesh.devices.flat)) != mesh.devices.size:
        raise ValueError(f"mesh must hold distinct devices, got {list(mesh.devices.flat)}")
    return mesh


def _counts(counts, m, n_devices):
    """counts as a tuple of D non-negative ints summing to m (no float is truncated, no bool taken for 1)."""
    counts = tuple(counts)
    if len(counts) != n_devices:
        raise ValueError(f"counts must have one n_k per device ({n_devices}), got {len(counts)}")
    for n in counts:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"counts must be non-negative ints summing to m = {m}, got {counts}")
    if sum(counts) != m:
        raise ValueError(f"counts must be non-negative ints summing to m = {m}, got {counts} (sum {sum(counts)})")
    return tuple(int(n) for n in counts)


def pad_shards(X, Y, counts):
    """Lay out X (n_x, m), Y (n_y, m) as D shards of n_k columns, each zero-padded to max_k n_k.

    Returns (X_padded (n_x, D s), Y_padded (n_y, D s), mask (1, D s)) with s = max_k n_k; shard k
    is columns k s .. (k+1) s - 1, and mask is 1 on its first n_k columns, 0 on the padding.
    """
    m = X.shape[1]
    counts = _counts(counts, m, len(tuple(counts)))
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


def _validated(params, X, Y, mesh, devices, counts, process_local, hidden, output, placement, start, source, divide,
               empty_shards=True):
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    shapes.choice("source", source, ("backprop", "autodiff"))
    shapes.choice("divide", divide, ("before", "after"))
    if not isinstance(process_local, bool):
        raise ValueError(f"process_local must be True or False, got {process_local!r}")
    if source == "backprop" and start == "dZL" and output == "tanh":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh'; use start='dAL'")
    shapes.data(params, X, Y, output=output)
    mesh = _mesh_of(mesh, devices)
    by_columns = NamedSharding(mesh, P(None, AXIS))
    params = jax.device_put(params, NamedSharding(mesh, P()))
    if process_local:  # X, Y are this process's columns: lay them on its devices, mark the real ones
        if counts is not None:
            raise ValueError("counts is for global X, Y; with process_local=True each process splits its own "
                             "columns evenly over its devices (give counts=None)")
        X, Y, columns = process_local_columns(mesh, X, Y.astype(X.dtype))
        mask = np.zeros((1, X.shape[1]), X.dtype)
        mask[0, columns] = 1  # the same on every process: every process knows every count
        return params, X, Y, jax.device_put(mask, by_columns), mesh
    n_devices = mesh.devices.size
    given = counts is not None
    counts = even_counts(X.shape[1], n_devices) if counts is None else _counts(counts, X.shape[1], n_devices)
    if not empty_shards and min(counts) < 1:
        raise ValueError(f"counts must all be >= 1 here (each shard's mean divides by its own n_k), got {counts}"
                         + ("" if given else f": m = {X.shape[1]} examples over {n_devices} devices"))
    X, Y, mask = pad_shards(X, Y.astype(X.dtype), counts)
    X, Y, mask = (jax.device_put(A, by_columns) for A in (X, Y, mask))
    return params, X, Y, mask, mesh


def data_parallel_grads(params, X, Y, *, mesh=None, devices=None, counts=None, process_local=False, hidden="relu",
                        output="sigmoid", placement="deferred", start="dZL", source: Source = "backprop",
                        divide: Divide = "before"):
    """grads of the global J over all m columns, computed with X, Y sharded over a mesh's devices.

        n_k = sum(mask_k);  m = psum_k n_k                                   global m from the masks
        divide="before":  dW = psum_k( sum_{i in k} dW(i) / m )     (1/m where placement puts it)
        divide="after":   dW = psum_k( sum_{i in k} dW(i) ) / m
    sum_{i in k} dW(i) is the core backward (placement "sum", mask_k) or, for source="autodiff",
    jax.grad of the core's masked sum cost. placement="sum" never divides (J = sum_i L(i)).
    counts (n_k per device, default as even as possible) lets shards differ in size on purpose.
    process_local=True (under jax.distributed): X, Y are only this process's columns (m_p of them,
    uneven across processes is fine); m is still the global sum_p m_p and the result the same
    (process_local_columns lays them out).
    Returns a tuple of Layer(W=dW, b=db), replicated on every device; equal to the single-device
    grads of the same J up to the order of the floating-point sum.
    """
    params, X, Y, mask, mesh = _validated(params, X, Y, mesh, devices, counts, process_local, hidden, output,
                                          placement, start, source, divide)
    return _grads_on_mesh_jit(params, X, Y, mask, mesh=mesh, exact=True, hidden=hidden, output=output,
                              placement=placement, start=start, source=source, divide=divide)


def pmean_of_means_grads(params, X, Y, *, mesh=None, devices=None, counts=None, hidden="relu", output="sigmoid",
                         placement="deferred", start="dZL", source: Source = "backprop"):
    """The naive all-reduce, for demonstration: (1/D) sum_k mean_k, mean_k the grads of shard k's own mean.

    Correct only when every n_k = m/D; otherwise it is off by pmean_error(means, counts). Needs n_k >= 1.
    """
    if placement == "sum":
        raise ValueError("placement must be 'deferred' or 'absorbed' for a mean of means, got 'sum'")
    params, X, Y, mask, mesh = _validated(params, X, Y, mesh, devices, counts, False, hidden, output, placement,
                                          start, source, "before", empty_shards=False)
    return _grads_on_mesh_jit(params, X, Y, mask, mesh=mesh, exact=False, hidden=hidden, output=output,
                              placement=placement, start=start, source=source, divide="before")


def pmean_error(local_means, counts):
    """The predicted error of the pmean of local means: pmean - exact = sum_k (1/D - n_k/m) mean_k.

    local_means: a sequence of D grads trees, mean_k = (1/n_k) sum_{i in shard k} dW(i).
    It is zero when every n_k = m/D, or when every shard's mean is the same.
    """
    if isinstance(counts, (str, bytes)) or not hasattr(counts, "__iter__"):
        raise ValueError(f"counts must be a sequence of D non-negative ints n_k, got {counts!r}")
    counts = tuple(counts)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 0 for n in counts):
        raise ValueError(f"counts must be non-negative ints n_k, got {counts}")
    if not counts or sum(counts) < 1:
        raise ValueError(f"counts must hold the n_k of at least one non-empty shard, got {counts}")
    counts = np.asarray(_counts(counts, sum(counts), len(counts)), dtype=np.float64)
    if not isinstance(local_means, (list, tuple)):
        raise ValueError(f"local_means must be a sequence of D grads trees (one per shard), got "
                         f"{type(local_means).__name__}")
    if len(local_means) != counts.size:
        raise ValueError(f"local_means must have one grads tree per count ({counts.size}), got {len(local_means)}")
    first = jax.tree.structure(local_means[0])
    for k, tree in enumerate(local_means):
        same = jax.tree.structure(tree) == first and all(
            jnp.shape(a) == jnp.shape(b) for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(local_means[0]),
                                                         strict=True))
        if not same:
            raise ValueError(f"local_means[{k}] must be a grads tree like local_means[0] (the same structure and "
                             "shapes)")
        for leaf in jax.tree.leaves(tree):
            shapes.finite(f"local_means[{k}]", leaf)
    weights = 1 / counts.size - counts / counts.sum()  # (D,), they sum to 0
    return jax.tree.map(lambda *means: sum(w * g for w, g in zip(weights, means, strict=True)), *local_means)


def even_counts(m, n_devices):
    """n_k for m examples on D devices, as even as possible: the first m mod D shards get one more."""
    return tuple(m // n_devices + (k < m % n_devices) for k in range(n_devices))


def process_local_columns(mesh, X, Y):
    """Lay this process's columns X (n_x, m_p), Y (n_y, m_p) on its devices of mesh; returns (X, Y, columns).

    Every process calls it with its own m_p (any m_p >= 1, uneven too): the counts are gathered,
    each process's m_p columns are split as evenly as possible over its devices in mesh order,
    every device's shard zero-padded to s = max_k n_k columns. X, Y come back as global arrays
    (n_x, D s), (n_y, D s) sharded by columns over every mesh axis; columns (m,) int32, the same
    on every process, lists the real columns in order (m = sum_p m_p): example j of the global
    batch is process 0's first, then process 1's, ..., as the mesh orders the devices.
    """
    owners = [d.process_index for d in mesh.devices.flat]
    per_process = np.asarray(multihost_utils.process_allgather(np.int32(X.shape[1]))).reshape(-1)
    counts = [0] * len(owners)
    for p, m_p in enumerate(per_process):
        mine = [k for k, owner in enumerate(owners) if owner == p]
        if not mine and m_p > 0:
            raise ValueError(f"process {p} holds {int(m_p)} examples but none of the mesh's devices")
        for k, n_k in zip(mine, even_counts(int(m_p), len(mine)), strict=True):
            counts[k] = n_k
    s = max(max(counts), 1)
    columns = np.concatenate([k * s + np.arange(n_k) for k, n_k in enumerate(counts)]).astype(np.int32)
    sharding = NamedSharding(mesh, P(None, mesh.axis_names))
    here = [k for k, owner in enumerate(owners) if owner == jax.process_index()]
    starts = np.cumsum([0] + [counts[k] for k in here])

    def global_array(A):  # this process's device shards, each padded to s columns
        pieces = [jax.device_put(jnp.pad(A[:, a:b], ((0, 0), (0, s - (b - a)))), mesh.devices.flat[k])
                  for k, a, b in zip(here, starts[:-1], starts[1:], strict=True)]
        return jax.make_array_from_single_device_arrays((A.shape[0], len(owners) * s), sharding, pieces)

    return global_array(X), global_array(Y), columns


def replicated(mesh, tree):
    """tree's arrays (the same on every process) as arrays replicated over every device of mesh.

    device_put takes host arrays for a sharding that spans other processes' devices, so each
    leaf goes through NumPy (a PRNG key through its key data).
    """
    replicated = NamedSharding(mesh, P())

    def put(x):
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(x), replicated)

    return jax.tree.map(put, tree)



# sweep passes these traced: a new value reuses the compiled sweep
NUMERIC = ("beta", "beta1", "beta2", "epsilon", "lambd", "keep_prob")
TRAIN_CHOICES = ("hidden", "output", "optimizer", "grads_from", "placement", "start", "num_iterations", "batch_size",
                 "record_every", "layout")  # static: a new value compiles anew


def _train_one(key, learning_rate, hyper, X, Y, layer_dims, method, options):
    """One run of jaxbp.train from init_params(key): the key's first half inits, its second shuffles."""
    k_init, k_shuffle = jax.random.split(key)
    from jaxbp.training import train  # training imports this module (process-local data)

    params = model.init_params(k_init, layer_dims, method=method, dtype=X.dtype)
    key = k_shuffle if options.get("batch_size") is not None or "keep_prob" in hyper else None
    return train(params, X, Y, learning_rate=learning_rate, key=key, **hyper, **options)


def _sweep_on_mesh(keys, learning_rates, hyper, X, Y, *, mesh, layer_dims, method, options):
    options = dict(options)
    runs = jax.vmap(lambda k, a, h, x, y: _train_one(k, a, h, x, y, layer_dims, method, options),
                    in_axes=(0, 0, 0, None, None))
    # No collectives: each device trains its own configurations (check_vma off, as train's scan
    # carries params that are device-invariant at init and device-varying after one step).
    sharded = jax.shard_map(runs, mesh=mesh, in_specs=(P(AXIS), P(AXIS), P(AXIS), P(), P()),
                            out_specs=(P(AXIS), P(AXIS)), check_vma=False)
    return sharded(keys, learning_rates, hyper, X, Y)


_sweep_jit = jax.jit(_sweep_on_mesh, static_argnames=("mesh", "layer_dims", "method", "options"))


def sweep(keys, X, Y, *, layer_dims, learning_rates, method="he", mesh=None, devices=None, **options):
    """Run jaxbp.train once per (keys[s], learning_rates[s]) as one vmapped computation over the devices.

        run s:  params = init_params(k_init_s, layer_dims);  train(params, X, Y, learning_rate=alpha_s,
                key=k_shuffle_s, **options)       with (k_init_s, k_shuffle_s) = split(keys[s])
    The S runs are split over the mesh's devices (S padded to a multiple of D by repeating the
    last run; the copies are dropped). options are train's keywords, the same for every run:
    its choices (hidden, output, optimizer, num_iterations, batch_size, placement, ...) are
    static, a new one compiles anew; its numeric hyperparameters (beta, beta1, beta2, epsilon,
    lambd, keep_prob) are traced, a new value reuses the compiled sweep, and each may also be an (S,) array, one
    value per run. Returns (params, costs): params a tuple of Layer with a leading axis S,
    costs (S, len of train's costs).
    """
    mesh = _mesh_of(mesh, devices)
    for name in ("learning_rate", "key", "mesh", "params", "state", "process_local", "return_state"):
        if name in options:
            raise ValueError(f"sweep sets {name} itself or does not support it; pass learning_rates (S,) and "
                             f"keys (S,) for the runs")
    for name in options:
        if name not in TRAIN_CHOICES + NUMERIC:
            raise ValueError(f"sweep's options must be among train's keywords {', '.join(TRAIN_CHOICES + NUMERIC)}; "
                             f"got {name!r}")
    shapes.choice("method", method, model.INIT_METHODS)
    if isinstance(layer_dims, (str, bytes)) or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                                       for n in layer_dims):
        raise ValueError(f"layer_dims must be a sequence of ints (n_x, n_1, ..., n_L), got {layer_dims!r}")
    layer_dims = tuple(int(n) for n in layer_dims)
    X = shapes.float_array("X", X)
    if len(layer_dims) < 2 or X.shape[0] != layer_dims[0]:
        raise ValueError(f"X must be (n_x, m) with n_x = layer_dims[0], got X {tuple(X.shape)}, "
                         f"layer_dims {layer_dims}")
    shapes.finite("X", X)  # X enters the jitted sweep traced: its values are checked here or not at all
    shapes.labels(Y, n_y=layer_dims[-1], m=X.shape[1], output=options.get("output", "sigmoid"))
    if getattr(keys, "dtype", None) is None or not jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        raise ValueError(f"keys must be (S,) PRNG keys (jax.random.split(jax.random.key(seed), S)), got "
                         f"{type(keys).__name__ if getattr(keys, 'dtype', None) is None else keys.dtype}")
    as_array = lambda a: np.asarray(a) if isinstance(a, (list, tuple)) else a  # noqa: E731
    learning_rates = as_array(learning_rates)
    S = keys.shape[0] if getattr(keys, "ndim", None) == 1 else -1
    if S < 1 or jnp.ndim(learning_rates) != 1 or jnp.shape(learning_rates) != (S,):
        raise ValueError(f"keys must be (S,) and learning_rates (S,), got {tuple(jnp.shape(keys))} and "
                         f"{tuple(jnp.shape(learning_rates))}")
    check_hyperparameter("learning_rate", learning_rates, X.dtype, scalar=False)
    hyper = {}
    for name in NUMERIC:
        if name in options:
            value = as_array(options.pop(name))
            if jnp.ndim(value) not in (0, 1) or (jnp.ndim(value) == 1 and jnp.shape(value) != (S,)):
                raise ValueError(f"{name} must be a scalar or (S,) = ({S},), one per run, got shape {jnp.shape(value)}")
            check_hyperparameter(name, value, X.dtype, scalar=False)
            hyper[name] = jnp.broadcast_to(jnp.asarray(value, X.dtype), (S,))
    for name, value in options.items():
        try:
            hash(value)
        except TypeError:
            raise ValueError(f"{name} is a choice of train (static, hashed): give a str, int or None, got "
                             f"{type(value).__name__}") from None
    pad = -S % mesh.devices.size
    repeat_last = lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)])  # noqa: E731
    keys, learning_rates = repeat_last(keys), repeat_last(jnp.asarray(learning_rates, X.dtype))
    hyper = {name: repeat_last(value) for name, value in hyper.items()}
    params, J = _sweep_jit(keys, learning_rates, hyper, X, Y.astype(X.dtype), mesh=mesh, layer_dims=layer_dims,
                           method=method, options=tuple(sorted(options.items())))
    return jax.tree.map(lambda a: a[:S], params), J[:S]
