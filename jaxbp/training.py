"""The whole training run, compiled once and run as one lax.scan over iterations.

    train(params, X, Y, *, hidden="relu", output="sigmoid", optimizer="sgd",
          learning_rate=0.0075, num_iterations=2500, batch_size=None, key=None,
          grads_from="backprop", placement="deferred", start="dZL", record_every=1,
          mesh=None, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8,
          layout="auto") -> (params, costs)

Contract
    X (n_x, m), Y (n_y, m), params a tuple of Layer(W, b) in Ng's layout, in and out.
    One iteration is one optimizer step on one batch (the full batch, or a mini-batch of
    batch_size columns; the columns are reshuffled by `key` every epoch, and the last
    mini-batch of an epoch holds the m mod batch_size left-over columns, masked, so every
    step's 1/m is that batch's own count). grads_from="backprop" uses the hand-written
    backward pass (any placement, start), "autodiff" uses jax.grad of the same cost:
        J = (1/m) sum_i L(i)  (placement deferred/absorbed),   J = sum_i L(i)  ("sum")
    costs[j] is J of the batch of iteration j * record_every, from that iteration's forward
    pass (before its update), so len(costs) = ceil(num_iterations / record_every).

Optimizers (optax; the update is the course's):
    sgd        W = W - learning_rate dW
    momentum   v = beta v + (1 - beta) dW;  W = W - learning_rate v     (Ng's form, not optax's)
    adam       v = beta1 v + (1 - beta1) dW,  s = beta2 s + (1 - beta2) dW^2,
               W = W - learning_rate v_corrected / (sqrt(s_corrected) + epsilon)   (optax.adam)
The hyperparameters enter the compiled program as arrays, not constants: calling train
again with new values but the same shapes and choices reuses the compiled run (the cache
is keyed by shapes, dtypes and the keyword choices only), and they may be vmapped.

Inside (layout="auto"), the run keeps Ng's layout unless the inputs outnumber the
examples of a batch (n_x > m, as the cat net's 12288 pixels for 209 images); then it
transposes X once, up front, and runs in the row layout of fast.py (params stay as they
are).

vmap: train works under jax.vmap over params, X, Y, key and the hyperparameters (e.g.
jax.vmap(lambda k: train(init_params(k, dims), X, Y, ...))(keys)). Value checks (NaN,
labels) run only on concrete arrays; shape checks always run.

mesh: a jax.sharding.Mesh; the m columns are sharded over all its axes and the params
replicated (data parallel; XLA inserts the all-reduce of dW, db). When m (or batch_size)
does not divide by the device count, zero columns are padded and masked out and the mean
still divides by the true m, so the run equals the single-device one up to rounding.
"""

from typing import Literal

import jax
import jax.numpy as jnp
import optax

from jaxbp import activations, fast, shapes

Optimizer = Literal["sgd", "momentum", "adam"]
GradsFrom = Literal["backprop", "autodiff"]
OPTIMIZERS = ("sgd", "momentum", "adam")
GRADS_FROM = ("backprop", "autodiff")


def make_optimizer(optimizer, hyper):
    """The optax transformation for `optimizer` from the hyperparameter arrays in `hyper`."""
    if optimizer == "sgd":
        return optax.sgd(hyper["learning_rate"])
    if optimizer == "momentum":  # Ng's v = beta v + (1 - beta) dW, not optax's v = beta v + dW
        return optax.chain(optax.ema(hyper["beta"], debias=False), optax.scale(-hyper["learning_rate"]))
    return optax.adam(hyper["learning_rate"], b1=hyper["beta1"], b2=hyper["beta2"], eps=hyper["epsilon"])


def _batch_plan(m, batch_size, n_devices):
    """Static sizes: (columns per batch incl. padding, batches per epoch, whether a mask is needed)."""
    if batch_size is None:
        m_batch, n_batches = m, 1
    else:
        m_batch, n_batches = batch_size, -(-m // batch_size)
    m_padded = -(-m_batch // n_devices) * n_devices
    ragged = batch_size is not None and m % batch_size != 0
    return m_padded, n_batches, ragged or m_padded != m_batch


def _run(params, X, Y, key, hyper, *, hidden, output, optimizer, grads_from, placement, start,
         num_iterations, batch_size, record_every, mesh, layout):
    m = X.shape[1]
    n_devices = 1 if mesh is None else mesh.size
    m_padded, n_batches, masked = _batch_plan(m, batch_size, n_devices)
    dtype = params[0].W.dtype
    ax = 0 if layout == "rows" else 1  # the examples' axis of D, T and mask
    D, T = (X.T, Y.astype(dtype).T) if layout == "rows" else (X, Y.astype(dtype))  # transposed once, for the run
    tx = make_optimizer(optimizer, {name: value.astype(dtype) for name, value in hyper.items()})

    def shard(A):  # split the examples' axis over every mesh axis; params stay replicated
        if mesh is None:
            return A
        spec = [None, None]
        spec[ax] = mesh.axis_names
        return jax.lax.with_sharding_constraint(A, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec)))

    def as_mask(real):  # (m_padded,) bool -> 0/1 in the layout's shape, (m, 1) or (1, m)
        return shard(jnp.expand_dims(real.astype(dtype), 1 - ax))

    def pad(A):
        widths = [(0, 0), (0, 0)]
        widths[ax] = (0, m_padded - m)
        return shard(jnp.pad(A, widths))

    if batch_size is None:  # one batch: pad once, up front
        D_full, T_full = pad(D), pad(T)
        mask_full = as_mask(jnp.arange(m_padded) < m) if masked else None
        m_full = jnp.asarray(m, dtype) if masked else None

    def batch(i, perm):
        """(D, T, mask, m) of iteration i; perm is this epoch's shuffled order of the m examples."""
        if batch_size is None:
            return D_full, T_full, mask_full, m_full
        slots = (i % n_batches) * batch_size + jnp.arange(m_padded)  # positions in this epoch's order
        real = (slots < m) & (jnp.arange(m_padded) < batch_size)
        idx = jnp.where(real, perm[jnp.minimum(slots, m - 1)], 0)
        D_b, T_b = shard(jnp.take(D, idx, axis=ax)), shard(jnp.take(T, idx, axis=ax))
        if not masked:
            return D_b, T_b, None, None
        return D_b, T_b, as_mask(real), jnp.sum(real).astype(dtype)

    def shuffled(i, perm):  # a new order at the start of every epoch
        if batch_size is None:
            return perm
        epoch = i // n_batches
        return jax.lax.cond(i % n_batches == 0,
                            lambda: jax.random.permutation(jax.random.fold_in(key, epoch), m), lambda: perm)

    def step(i, carry):
        params, opt_state, perm = carry
        perm = shuffled(i, perm)
        D_b, T_b, mask, m_b = batch(i, perm)
        J, grads = fast.cost_and_grads(params, D_b, T_b, layout=layout, hidden=hidden, output=output,
                                       grads_from=grads_from, placement=placement, start=start, m=m_b, mask=mask)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, perm), J

    init = (params, tx.init(params), jnp.arange(m) if batch_size is not None else None)
    if record_every == 1:  # no inner loop: one scan step per iteration
        (params, _, _), costs = jax.lax.scan(lambda carry, i: step(i, carry), init, jnp.arange(num_iterations))
        return params, costs

    def record(carry, j):  # iteration j*k records its cost; the next k-1 (fewer at the end) do not
        i0 = j * record_every
        carry, J = step(i0, carry)
        n_rest = jnp.minimum(record_every, num_iterations - i0) - 1
        carry = jax.lax.fori_loop(i0 + 1, i0 + 1 + n_rest, lambda i, c: step(i, c)[0], carry)
        return carry, J

    n_records = -(-num_iterations // record_every)
    (params, _, _), costs = jax.lax.scan(record, init, jnp.arange(n_records))
    return params, costs


_STATIC = ("hidden", "output", "optimizer", "grads_from", "placement", "start", "num_iterations", "batch_size",
           "record_every", "mesh", "layout")
_run_jit = jax.jit(_run, static_argnames=_STATIC)


def flops_per_step(layer_dims, m):
    """Matmul FLOPs of one training step: forward F = 2 m sum_l n_l n_{l-1}, backward 2F minus dA[0]."""
    forward = 2 * m * sum(n_l * n_prev for n_prev, n_l in zip(layer_dims[:-1], layer_dims[1:], strict=True))
    return 3 * forward - 2 * m * layer_dims[0] * layer_dims[1]


def choose_layout(layer_dims, m_batch):
    """"rows" when the inputs outnumber the batch's examples (n_x > m), else Ng's "columns".

    Measured (one core, CPU time): cat [12288, 20, 7, 5, 1], m = 209: rows 3.0 ms, columns
    4.7 ms per step; planar [2, 4, 1], m = 400: columns 3.0 us, rows 6.8 us (elementwise
    work vectorises along the minor axis, m in columns, n_l in rows); wide [784, 1024,
    1024, 1], m = 1024 and a 12-layer 64-wide net: within 6% of each other.
    """
    return "rows" if layer_dims[0] > m_batch else "columns"


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def train(params, X, Y, *, hidden="relu", output="sigmoid", optimizer: Optimizer = "sgd", learning_rate=0.0075,
          num_iterations=2500, batch_size=None, key=None, grads_from: GradsFrom = "backprop", placement="deferred",
          start="dZL", record_every=1, mesh=None, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8,
          layout: Literal["auto", "rows", "columns"] = "auto"):
    """Train params on (X, Y) for num_iterations optimizer steps; returns (params, costs).

        for i = 0 .. num_iterations-1:
            (X_b, Y_b) = batch i                       full batch, or a reshuffled mini-batch
            grads = backward(forward(params, X_b))     or jax.grad(cost)
            params = optimizer update(params, grads)
    costs: (ceil(num_iterations / record_every),) the J of every record_every-th iteration.
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    shapes.choice("optimizer", optimizer, OPTIMIZERS)
    shapes.choice("grads_from", grads_from, GRADS_FROM)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    shapes.choice("layout", layout, ("auto",) + fast.LAYOUTS)
    if start == "dZL" and output == "tanh" and grads_from == "backprop":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh'; use start='dAL'")
    with jax.ensure_compile_time_eval():  # value checks on concrete arrays run eagerly even inside a jit trace
        m = shapes.data(params, X, Y, output=output)
    _positive_int("num_iterations", num_iterations)
    _positive_int("record_every", record_every)
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
        if batch_size > m:
            raise ValueError(f"batch_size must be at most m = {m}, got {batch_size}")
        if key is None:
            raise ValueError("key is required when batch_size is given (it reshuffles the mini-batches)")
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    hyper = {"learning_rate": learning_rate}
    if optimizer == "momentum":
        hyper["beta"] = beta
    if optimizer == "adam":
        hyper.update(beta1=beta1, beta2=beta2, epsilon=epsilon)
    for name, value in hyper.items():
        if jnp.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(value)}")
    hyper = {name: jnp.asarray(value) for name, value in hyper.items()}
    layer_dims = shapes.layer_dims_of(params, check_values=False)
    m_batch = m if batch_size is None else batch_size
    if layout == "auto":
        layout = choose_layout(layer_dims, m_batch)
    return _run_jit(params, X, Y, key if batch_size is not None else None, hyper, hidden=hidden, output=output,
                    optimizer=optimizer, grads_from=grads_from, placement=placement, start=start,
                    num_iterations=num_iterations, batch_size=batch_size, record_every=record_every, mesh=mesh,
                    layout=layout)
