"""The whole training run, compiled once and run as one lax.scan over iterations.

    train(params, X, Y, *, hidden="relu", output="sigmoid", optimizer="sgd", learning_rate=None,
          num_iterations=2500, batch_size=None, key=None, grads_from="backprop", placement="deferred",
          start="dZL", record_every=1, mesh=None, process_local=False, beta=None, beta1=None,
          beta2=None, epsilon=None, layout="auto", state=None, return_state=False, lambd=0.0,
          keep_prob=1.0)
        -> (params, costs), or TrainResult(params, costs, state) with return_state=True

Contract
    X (n_x, m), Y (n_y, m), params a tuple of Layer(W, b) in Ng's layout, in and out.
    One iteration is one optimizer step on one batch (the full batch, or a mini-batch of
    batch_size columns; the columns are reshuffled every epoch by the permutation
    fold_in(key, epoch), and the last mini-batch of an epoch holds the m mod batch_size
    left-over columns, masked, so every step's 1/m is that batch's own count). The counts
    and every m stay in float32 or wider (float16 cannot hold m > 65504 and bfloat16 rounds
    1003 to 1004); the core divides in that width and rounds back (backprop.over_m).
    grads_from="backprop" uses the hand-written backward pass (any placement, start),
    "autodiff" uses jax.grad of the same cost:
        J = (1/m) sum_i L(i)  (placement deferred/absorbed),   J = sum_i L(i)  ("sum")
    costs[j] is J of the batch of iteration j * record_every, from that iteration's forward
    pass (before its update), so len(costs) = ceil(num_iterations / record_every).

Regularization (the core's, backprop.py): lambd > 0 adds (lambd/2m) sum_l ||W[l]||^2 to each
batch's J (m = that batch's count) and (lambd/m) W[l] to dW[l]; keep_prob < 1 is inverted
dropout on the hidden layers, A[l] = g(Z[l]) * D[l] / keep_prob, with new masks every step:
    (k_shuffle, k_dropout) = split(key)          once, when keep_prob < 1 (else k_shuffle = key)
    D[1..L-1] of iteration i drawn from fold_in(k_dropout, i)    (model.dropout_masks)
so a resumed run draws the same masks. The masks cover the batch's padded width, so with a
mesh that pads (m not a multiple of the devices) they differ from one device's draw.

Optimizers (optimizers.py): "sgd", "momentum" (Ng's form), "adam" (optax.adam), or any
optax.GradientTransformation; learning_rate a number or an optax schedule; a hyperparameter the
optimizer does not use, or one out of range, is an error.

Static and traced (what a new value costs)
    static, a new value compiles a new run: the shapes and dtypes of params, X, Y; hidden,
        output, optimizer (a name, or an optax transformation by identity: build it once and
        reuse the object), a learning-rate schedule (by identity), grads_from, placement,
        start, num_iterations, batch_size, record_every, mesh, layout.
    traced, a new value reuses the compiled run: params, X, Y, key, a numeric learning_rate,
        beta, beta1, beta2, epsilon, lambd and keep_prob (but the plain Python defaults 0.0 and
        1.0 leave the L2 term and dropout out of the program), and state (the optax state, with
        any hyperparameter injected by optax.inject_hyperparams, and the step count). So all of
        these may be vmapped, e.g. a sweep over learning rates or seeds is one computation.

Resuming: state = TrainState(opt_state, step) is everything the run carries besides params
(the optimizer's moments and its own count, which a schedule reads; step, which places the
next mini-batch and its epoch's shuffle). Pass the same key, data and choices and
    p, c1, state = train(params, X, Y, num_iterations=50, return_state=True, **kw)
    p, c2, state = train(p, X, Y, num_iterations=50, state=state, return_state=True, **kw)
equals one run of 100 iterations (params and costs, c1 + c2).

Inside (layout="auto"), the run keeps Ng's layout unless the inputs outnumber the
examples of a batch (n_x > m, as the cat net's 12288 pixels for 209 images); then it
transposes X once, up front, and runs in the row layout of fast.py (params stay as they are).

Value checks (NaN, labels, hyperparameter ranges) run only on concrete arrays (also inside a
caller's jit); shape and dtype checks always run.

mesh: a jax.sharding.Mesh; the m columns are sharded over all its axes and the params
replicated (data parallel; XLA inserts the all-reduce of dW, db). When m (or batch_size)
does not divide by the device count, zero columns are padded and masked out and the mean
still divides by the true m, so the run equals the single-device one up to rounding.
process_local=True (with a mesh, under jax.distributed): X, Y are this process's own
columns; they are laid out on its devices of the mesh (process_local_columns) and m is the
sum of every process's count. The examples are ordered as the mesh's devices are.
"""

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxbp import activations, fast, parallel, shapes
from jaxbp.optimizers import (
    OPTIMIZERS,
    Optimizer,
    check_hyperparameter,
    hyperparameters,
    make_optimizer,
    with_learning_rate,
)

GradsFrom = Literal["backprop", "autodiff"]
GRADS_FROM = ("backprop", "autodiff")


class TrainState(NamedTuple):
    """What a run carries besides params: resume from it with train(..., state=state)."""

    opt_state: Any  # the optax state (moments, the optimizer's count, injected hyperparameters)
    step: jax.Array  # () int32, iterations done: places the next mini-batch and its epoch's shuffle


class TrainResult(NamedTuple):
    params: tuple  # of Layer(W, b)
    costs: jax.Array  # (ceil(num_iterations / record_every),)
    state: TrainState


def _count_dtype(dtype):
    return jnp.promote_types(dtype, jnp.float32)  # counts and m: float16 overflows past 65504, bfloat16 rounds 1003


def _batch_plan(m, width, batch_size, n_devices):
    """Static sizes: (columns per batch incl. padding, batches per epoch, whether a mask is needed).

    width is X's number of columns: m, or more when process-local shards carry padding.
    """
    if batch_size is None:
        m_batch, n_batches = width, 1
    else:
        m_batch, n_batches = batch_size, -(-m // batch_size)
    m_padded = -(-m_batch // n_devices) * n_devices
    ragged = batch_size is not None and m % batch_size != 0
    return m_padded, n_batches, ragged or m_padded != m_batch or (batch_size is None and width != m)


def _run(params, X, Y, key, hyper, state, columns, *, hidden, output, optimizer, schedule, grads_from, placement,
         start, num_iterations, batch_size, record_every, mesh, layout):
    m = X.shape[1] if columns is None else columns.shape[0]  # the real examples; X may hold padding columns
    n_devices = 1 if mesh is None else mesh.size
    m_padded, n_batches, masked = _batch_plan(m, X.shape[1], batch_size, n_devices)
    dtype = params[0].W.dtype
    count_dtype = _count_dtype(dtype)
    ax = 0 if layout == "rows" else 1  # the examples' axis of D, T and mask
    D, T = (X.T, Y.astype(dtype).T) if layout == "rows" else (X, Y.astype(dtype))  # transposed once, for the run
    hyper = {name: value.astype(count_dtype if name == "lambd" else dtype) for name, value in hyper.items()}
    lambd, keep_prob = hyper.get("lambd", 0.0), hyper.get("keep_prob", 1.0)  # absent: no L2 term, no dropout
    k_shuffle, k_dropout = jax.random.split(key) if "keep_prob" in hyper else (key, None)
    named = isinstance(optimizer, str)
    tx = make_optimizer(optimizer, hyper, schedule)

    def shard(A):  # split the examples' axis over every mesh axis; params stay replicated
        if mesh is None:
            return A
        spec = [None, None]
        spec[ax] = mesh.axis_names
        return jax.lax.with_sharding_constraint(A, NamedSharding(mesh, P(*spec)))

    def as_mask(real):  # (m_padded,) bool -> 0/1 in the layout's shape, (m, 1) or (1, m)
        return shard(jnp.expand_dims(real.astype(dtype), 1 - ax))

    def pad(A):
        widths = [(0, 0), (0, 0)]
        widths[ax] = (0, m_padded - A.shape[ax])
        return shard(jnp.pad(A, widths))

    if batch_size is None:  # one batch: pad once, up front
        D_full, T_full = pad(D), pad(T)
        real = jnp.arange(m_padded) < m if columns is None else jnp.zeros(m_padded, bool).at[columns].set(True)
        mask_full = as_mask(real) if masked else None
        m_full = jnp.asarray(m, count_dtype) if masked else None

    def batch(i, perm):
        """(D, T, mask, m) of iteration i; perm is this epoch's shuffled order of the m examples."""
        if batch_size is None:
            return D_full, T_full, mask_full, m_full
        slots = (i % n_batches) * batch_size + jnp.arange(m_padded)  # positions in this epoch's order
        real = (slots < m) & (jnp.arange(m_padded) < batch_size)
        idx = jnp.where(real, perm[jnp.minimum(slots, m - 1)], 0)  # example numbers 0 .. m-1
        if columns is not None:
            idx = columns[idx]  # example -> its column of the padded process-local layout
        D_b, T_b = shard(jnp.take(D, idx, axis=ax)), shard(jnp.take(T, idx, axis=ax))
        if not masked:
            return D_b, T_b, None, None
        return D_b, T_b, as_mask(real), jnp.sum(real).astype(count_dtype)

    def epoch_order(i):
        return jax.random.permutation(jax.random.fold_in(k_shuffle, i // n_batches), m)

    def shuffled(i, perm):  # a new order at the start of every epoch
        if batch_size is None:
            return perm
        return jax.lax.cond(i % n_batches == 0, lambda: epoch_order(i), lambda: perm)

    def step(i, carry):
        params, opt_state, perm = carry
        perm = shuffled(i, perm)
        D_b, T_b, mask, m_b = batch(i, perm)
        step_key = None if k_dropout is None else jax.random.fold_in(k_dropout, i)  # this step's dropout masks
        J, grads = fast.cost_and_grads(params, D_b, T_b, layout=layout, hidden=hidden, output=output,
                                       grads_from=grads_from, placement=placement, start=start, m=m_b, mask=mask,
                                       lambd=lambd, keep_prob=keep_prob, key=step_key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, perm), J

    opt_state, step0 = (tx.init(params), jnp.int32(0)) if state is None else state
    step0 = jnp.asarray(step0, jnp.int32)
    if not named and "learning_rate" in hyper:  # optax.inject_hyperparams: the value lives in the state
        opt_state = with_learning_rate(opt_state, hyper["learning_rate"])
    init = (params, opt_state, epoch_order(step0) if batch_size is not None else None)
    if record_every == 1:  # no inner loop: one scan step per iteration
        steps = step0 + jnp.arange(num_iterations, dtype=jnp.int32)
        (params, opt_state, _), costs = jax.lax.scan(lambda carry, i: step(i, carry), init, steps)
        return params, costs, TrainState(opt_state, step0 + num_iterations)

    def record(carry, j):  # iteration j*k records its cost; the next k-1 (fewer at the end) do not
        i0 = step0 + j * record_every
        carry, J = step(i0, carry)
        n_rest = jnp.minimum(record_every, num_iterations - j * record_every) - 1
        carry = jax.lax.fori_loop(i0 + 1, i0 + 1 + n_rest, lambda i, c: step(i, c)[0], carry)
        return carry, J

    n_records = -(-num_iterations // record_every)
    (params, opt_state, _), costs = jax.lax.scan(record, init, jnp.arange(n_records, dtype=jnp.int32))
    return params, costs, TrainState(opt_state, step0 + num_iterations)


_STATIC = ("hidden", "output", "optimizer", "schedule", "grads_from", "placement", "start", "num_iterations",
           "batch_size", "record_every", "mesh", "layout")
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
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_state(state, tx, params):
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be the TrainState a run returned (return_state=True), got {type(state).__name__}")
    want = jax.eval_shape(tx.init, params)
    got = jax.eval_shape(lambda s: s, state.opt_state)
    same = jax.tree.structure(got) == jax.tree.structure(want) and all(
        (a.shape, a.dtype) == (b.shape, b.dtype)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True))
    if not same:
        raise ValueError(f"state.opt_state does not match this optimizer and params: expected {want}, got {got}")
    step = state.step
    if jnp.ndim(step) != 0 or not jnp.issubdtype(jnp.asarray(step).dtype, jnp.integer):
        raise ValueError(f"state.step must be an integer scalar, got {step!r}")
    if shapes.is_concrete(step) and int(step) < 0:
        raise ValueError(f"state.step must be >= 0, got {int(step)}")


def train(params, X, Y, *, hidden="relu", output="sigmoid", optimizer: Optimizer | optax.GradientTransformation = "sgd",
          learning_rate=None, num_iterations=2500, batch_size=None, key=None, grads_from: GradsFrom = "backprop",
          placement="deferred", start="dZL", record_every=1, mesh=None, process_local=False, beta=None, beta1=None,
          beta2=None, epsilon=None, layout: Literal["auto", "rows", "columns"] = "auto", state=None,
          return_state=False, lambd=0.0, keep_prob=1.0):
    """Train params on (X, Y) for num_iterations optimizer steps; returns (params, costs).

        for i = step .. step + num_iterations - 1:        (step = 0, or state.step to resume)
            (X_b, Y_b) = batch i                       full batch, or a reshuffled mini-batch
            grads = backward(forward(params, X_b))     or jax.grad(cost)
            params = optimizer update(params, grads)
    costs: (ceil(num_iterations / record_every),) the J of every record_every-th iteration.
    return_state=True returns TrainResult(params, costs, state); state= resumes a run (module docstring).
    lambd > 0 adds L2, keep_prob < 1 inverted dropout with masks drawn per step from key (module docstring).
    """
    shapes.choice("hidden", hidden, activations.HIDDEN)
    shapes.choice("output", output, activations.OUTPUTS)
    if not isinstance(optimizer, optax.GradientTransformation):
        shapes.choice("optimizer", optimizer, OPTIMIZERS)
    shapes.choice("grads_from", grads_from, GRADS_FROM)
    shapes.choice("placement", placement, shapes.PLACEMENTS)
    shapes.choice("start", start, shapes.STARTS)
    shapes.choice("layout", layout, ("auto",) + fast.LAYOUTS)
    for name, flag in (("process_local", process_local), ("return_state", return_state)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if start == "dZL" and output == "tanh" and grads_from == "backprop":
        raise ValueError("start='dZL' (dZ[L] = AL - Y) is not the gradient for output='tanh'; use start='dAL'")
    with jax.ensure_compile_time_eval():  # value checks on concrete arrays run eagerly even inside a jit trace
        m = shapes.data(params, X, Y, output=output)
    _positive_int("num_iterations", num_iterations)
    _positive_int("record_every", record_every)
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if process_local and mesh is None:
        raise ValueError("process_local=True needs the mesh the processes share (mesh=parallel.make_mesh())")
    dtype = params[0].W.dtype
    given = dict(learning_rate=learning_rate, beta=beta, beta1=beta1, beta2=beta2, epsilon=epsilon)
    hyper, schedule = hyperparameters(optimizer, given, dtype, params)
    if state is not None:
        _check_state(state, make_optimizer(optimizer, hyper, schedule), params)
    for name, value, off in (("lambd", lambd, 0), ("keep_prob", keep_prob, 1)):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == off:
            continue  # the plain default: the term is left out of the program (static)
        check_hyperparameter(name, value, dtype)  # anything else is traced: a new value reuses the run
        hyper[name] = jnp.asarray(value)
    dropout = "keep_prob" in hyper
    columns = None
    if process_local:
        X, Y, columns = parallel.process_local_columns(mesh, X, Y)
        m = columns.size
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
        if batch_size > m:
            raise ValueError(f"batch_size must be at most m = {m}, got {batch_size}")
        if key is None:
            raise ValueError("key is required when batch_size is given (it reshuffles the mini-batches)")
    if dropout and key is None:
        raise ValueError("key is required when keep_prob is given (it draws each step's dropout masks)")
    if key is not None and (dropout or batch_size is not None):
        shapes.key(key)
    layer_dims = shapes.layer_dims_of(params, check_values=False)
    if layout == "auto":
        layout = choose_layout(layer_dims, m if batch_size is None else batch_size)
    key = key if batch_size is not None or dropout else None
    if process_local:  # every other input is the same on every process: replicate it over the mesh
        params, key, hyper, state, columns = parallel.replicated(mesh, (params, key, hyper, state, columns))
    params, costs, state = _run_jit(params, X, Y, key, hyper, state, columns, hidden=hidden, output=output,
                                    optimizer=optimizer, schedule=schedule, grads_from=grads_from,
                                    placement=placement, start=start, num_iterations=num_iterations,
                                    batch_size=batch_size, record_every=record_every, mesh=mesh, layout=layout)
    return TrainResult(params, costs, state) if return_state else (params, costs)
