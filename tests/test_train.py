"""train and its fast row layout against independent references (float64 unless said).

References: the core's hand-written backward and jax.grad in Ng's layout; a Python loop of
optimizer steps written out from Ng's update equations; single-device runs for the mesh.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxbp import backprop, datasets, fast, model
from jaxbp.model import Layer
from jaxbp.training import TrainResult, TrainState, _run_jit, choose_layout, train

F64_TOL = 1e-12  # ‖a−b‖/(‖a‖+‖b‖) per layer (house threshold); measured ≤ 9.2e-16 for the grads below
TRAIN_TOL = 1e-12  # params after 30-200 float64 steps; measured ≤ 8.2e-16 (train vs loop, mesh vs one device)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def assert_layers_close(got, want, tol):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for l, (g, w) in enumerate(zip(got, want, strict=True), start=1):
        assert rel(g.W, w.W) <= tol, (l, rel(g.W, w.W))
        assert rel(g.b, w.b) <= tol, (l, rel(g.b, w.b))


def problem(key, dims, m, *, output="sigmoid", dtype=jnp.float64):
    k_p, k_x, k_y = jax.random.split(key, 3)
    params = model.init_params(k_p, dims, method="xavier", dtype=dtype)
    X = jax.random.normal(k_x, (dims[0], m), dtype)
    X = X.at[:, 0].set(0.0)  # a column of zeros: Z[1] = b = 0 exactly, relu's kink
    if output == "softmax":
        Y = jax.nn.one_hot(jax.random.randint(k_y, (m,), 0, dims[-1]), dims[-1], dtype=dtype).T
    elif output == "sigmoid":
        Y = jax.random.bernoulli(k_y, 0.5, (dims[-1], m)).astype(dtype)
    else:
        Y = jax.random.normal(k_y, (dims[-1], m), dtype)
    return params, X, Y


@pytest.mark.parametrize("placement", ["deferred", "absorbed", "sum"])
@pytest.mark.parametrize("start", ["dZL", "dAL"])
@pytest.mark.parametrize(("hidden", "output", "dims"), [
    ("relu", "sigmoid", (5, 4, 3, 1)), ("tanh", "softmax", (5, 4, 3)), ("leaky_relu", "identity", (3, 6, 2)),
])
def test_cost_and_grads_rows_equal_plain_backprop_and_jax_grad(key, placement, start, hidden, output, dims):
    params, X, Y = problem(key, dims, 37, output=output)
    reduction = backprop.reduction_for(placement)
    AL, caches = model.forward(params, X, hidden=hidden, output=output)
    want = backprop.backward(params, caches, AL, Y, hidden=hidden, output=output, placement=placement, start=start)
    oracle = model.autodiff_grads(params, X, Y, hidden=hidden, output=output, reduction=reduction)
    assert_layers_close(want, oracle, F64_TOL)
    for grads_from in ("backprop", "autodiff"):
        J, grads = fast.cost_and_grads(params, X.T, Y.T, layout="rows", hidden=hidden, output=output,
                                       grads_from=grads_from, placement=placement, start=start)
        assert_layers_close(grads, oracle, F64_TOL)
        np.testing.assert_allclose(J, model.cost(params, X, Y, hidden=hidden, output=output, reduction=reduction),
                                   rtol=1e-14)


def test_cost_and_grads_rows_with_mask_equal_unpadded(key):
    params, X, Y = problem(key, (4, 3, 1), 10)
    Xp, Yp = jnp.pad(X, ((0, 0), (0, 3))), jnp.pad(Y, ((0, 0), (0, 3)))
    mask = (jnp.arange(13) < 10).astype(X.dtype)[:, None]  # (m, 1) in rows
    oracle = model.autodiff_grads(params, X, Y)
    for placement in ("deferred", "absorbed"):
        _, grads = fast.cost_and_grads(params, Xp.T, Yp.T, layout="rows", hidden="relu", output="sigmoid",
                                       grads_from="backprop", placement=placement, start="dZL", m=10, mask=mask)
        assert_layers_close(grads, oracle, F64_TOL)


@functools.partial(jax.jit, static_argnames=("hidden", "output"))
def reference_cost_and_grads(params, Xb, Yb, *, hidden, output):  # module level: compiled once per shape
    kw = dict(hidden=hidden, output=output)
    return model.cost(params, Xb, Yb, **kw), model.autodiff_grads(params, Xb, Yb, **kw)


def reference_run(params, X, Y, *, optimizer, learning_rate, num_iterations, batches=None, hidden="relu",
                  output="sigmoid", beta=0.9, b1=0.9, b2=0.999, eps=1e-8):
    """A Python loop of Ng's update equations on the core's jax.grad; returns (params, costs).

    learning_rate may be a function of the step count: step t (1, 2, ...) uses learning_rate(t - 1).
    """
    v = [Layer(jnp.zeros_like(p.W), jnp.zeros_like(p.b)) for p in params]
    s = [Layer(jnp.zeros_like(p.W), jnp.zeros_like(p.b)) for p in params]
    costs = []
    cost_and_grads = functools.partial(reference_cost_and_grads, hidden=hidden, output=output)
    for t in range(1, num_iterations + 1):
        cols = slice(None) if batches is None else batches[t - 1]
        Xb, Yb = X[:, cols], Y[:, cols]
        cost, grads = cost_and_grads(params, Xb, Yb)
        costs.append(cost)
        lr = learning_rate(t - 1) if callable(learning_rate) else learning_rate
        new = []
        for l, (p, g) in enumerate(zip(params, grads, strict=True)):
            if optimizer == "sgd":
                new.append(Layer(p.W - lr * g.W, p.b - lr * g.b))
            elif optimizer == "momentum":  # v = beta v + (1 - beta) dW;  W = W - lr v
                v[l] = Layer(beta * v[l].W + (1 - beta) * g.W, beta * v[l].b + (1 - beta) * g.b)
                new.append(Layer(p.W - lr * v[l].W, p.b - lr * v[l].b))
            else:  # Adam with bias correction, eps outside the square root
                v[l] = Layer(b1 * v[l].W + (1 - b1) * g.W, b1 * v[l].b + (1 - b1) * g.b)
                s[l] = Layer(b2 * s[l].W + (1 - b2) * g.W**2, b2 * s[l].b + (1 - b2) * g.b**2)
                step = [lr * (vv / (1 - b1**t)) / (jnp.sqrt(ss / (1 - b2**t)) + eps)
                        for vv, ss in zip(v[l], s[l], strict=True)]
                new.append(Layer(p.W - step[0], p.b - step[1]))
        params = tuple(new)
    return params, jnp.stack(costs)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_train_equals_python_loop_of_ng_updates(key, optimizer):
    params, X, Y = problem(key, (3, 5, 1), 40)
    want, want_costs = reference_run(params, X, Y, optimizer=optimizer, learning_rate=0.05, num_iterations=30)
    for grads_from in ("backprop", "autodiff"):
        got, costs = train(params, X, Y, optimizer=optimizer, learning_rate=0.05, num_iterations=30,
                                 grads_from=grads_from)
        assert_layers_close(got, want, TRAIN_TOL)
        np.testing.assert_allclose(costs, want_costs, rtol=1e-12)


def test_train_minibatches_are_reshuffled_each_epoch_and_ragged_batch_is_exact(key):
    m, batch_size, n_iter = 23, 8, 7  # 3 batches per epoch: 8, 8 and the 7 left over
    params, X, Y = problem(key, (3, 4, 1), m)
    k_shuffle = jax.random.key(7)
    batches = []
    for epoch in range(3):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_shuffle, epoch), m))
        assert sorted(perm) == list(range(m))
        batches += [perm[i:i + batch_size] for i in range(0, m, batch_size)]
    want, want_costs = reference_run(params, X, Y, optimizer="sgd", learning_rate=0.1, num_iterations=n_iter,
                                     batches=batches)
    got, costs = train(params, X, Y, learning_rate=0.1, num_iterations=n_iter, batch_size=batch_size,
                             key=k_shuffle)
    assert_layers_close(got, want, TRAIN_TOL)
    np.testing.assert_allclose(costs, want_costs, rtol=1e-12)
    assert not np.array_equal(batches[0], batches[3])  # epoch 2 is a new order


def test_train_layouts_and_record_every_agree(key):
    params, X, Y = problem(key, (4, 6, 3), 50, output="softmax")
    kw = dict(hidden="tanh", output="softmax", optimizer="adam", learning_rate=0.01, num_iterations=25,
              placement="absorbed")
    rows, costs = train(params, X, Y, layout="rows", **kw)
    cols, costs_cols = train(params, X, Y, layout="columns", grads_from="autodiff", **kw)
    assert_layers_close(rows, cols, TRAIN_TOL)
    _, every_7th = train(params, X, Y, layout="rows", record_every=7, **kw)
    assert every_7th.shape == (4,)  # iterations 0, 7, 14, 21 of 25
    np.testing.assert_allclose(every_7th, costs[::7], rtol=1e-13)
    np.testing.assert_allclose(costs, costs_cols, rtol=1e-12)


def test_choose_layout_rows_only_when_inputs_outnumber_examples():
    assert choose_layout((12288, 20, 7, 5, 1), 209) == "rows"
    assert choose_layout((2, 4, 1), 400) == "columns"
    assert choose_layout((784, 1024, 1024, 1), 1024) == "columns"


def test_train_new_hyperparameters_do_not_recompile(key):
    params, X, Y = problem(key, (3, 4, 1), 30)
    kw = dict(optimizer="momentum", num_iterations=5, batch_size=10)
    def n_compiled():
        return _run_jit._cache_size()

    train(params, X, Y, learning_rate=0.1, key=key, **kw)
    before = n_compiled()
    other_params, other_X, _ = problem(jax.random.key(1), (3, 4, 1), 30)
    train(other_params, other_X, Y, learning_rate=0.3, beta=0.5, key=jax.random.key(2), **kw)
    assert n_compiled() == before
    train(params, X, Y, learning_rate=0.1, key=key, **{**kw, "num_iterations": 6})  # a new scan length
    assert n_compiled() == before + 1


def test_train_under_vmap_equals_each_seed_alone(key):
    X, Y = datasets.flower(key, 40, dtype=jnp.float64)

    def one_seed(k, learning_rate):
        params = model.init_params(k, (2, 4, 1), dtype=jnp.float64)
        return train(params, X, Y, learning_rate=learning_rate, num_iterations=20, batch_size=16, key=k,
                           record_every=5)

    keys, rates = jax.random.split(key, 3), jnp.array([0.1, 0.2, 0.4])
    swept, costs = jax.vmap(one_seed)(keys, rates)
    for s in range(3):
        alone, alone_costs = one_seed(keys[s], rates[s])
        assert_layers_close(jax.tree.map(lambda a, s=s: a[s], swept), alone, TRAIN_TOL)
        np.testing.assert_allclose(costs[s], alone_costs, rtol=1e-12)


def test_train_inside_a_callers_jit_with_closed_over_data(key):
    params, X, Y = problem(key, (3, 4, 1), 30)  # concrete arrays closed over by the jitted function
    inside = jax.jit(lambda learning_rate: train(params, X, Y, learning_rate=learning_rate, num_iterations=10))
    got, costs = inside(0.1)
    want, want_costs = train(params, X, Y, learning_rate=0.1, num_iterations=10)
    assert_layers_close(got, want, TRAIN_TOL)
    np.testing.assert_allclose(costs, want_costs, rtol=1e-12)


@pytest.mark.parametrize(("dims", "m", "batch_size"), [
    ((5, 8, 1), 1000, None), ((5, 8, 1), 1003, None), ((60, 8, 1), 203, 50),  # the last runs in rows (60 > 50)
])
def test_train_on_mesh_equals_one_device(key, dims, m, batch_size):
    devices = jax.devices("cpu")
    if len(devices) < 2:
        pytest.skip("needs several CPU devices (conftest sets 4)")
    mesh = jax.sharding.Mesh(np.array(devices[:4]), ("batch",))
    params, X, Y = problem(key, dims, m)
    kw = dict(optimizer="adam", learning_rate=0.01, num_iterations=200, record_every=10, batch_size=batch_size,
              key=key)
    alone, costs = train(params, X, Y, **kw)
    sharded, sharded_costs = train(params, X, Y, mesh=mesh, **kw)
    assert_layers_close(sharded, alone, TRAIN_TOL)
    np.testing.assert_allclose(sharded_costs, costs, rtol=1e-12)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(optimizer="rmsprop"), "optimizer"), (dict(grads_from="numeric"), "grads_from"),
    (dict(batch_size=8), "key"), (dict(batch_size=99, key=jax.random.key(0)), "batch_size"),
    (dict(num_iterations=0), "num_iterations"), (dict(learning_rate=jnp.ones(2)), "learning_rate"),
    (dict(layout="diagonal"), "layout"), (dict(output="tanh"), "start"),
])
def test_train_rejects_bad_arguments_by_name(key, kwargs, match):
    params, X, Y = problem(key, (3, 2, 1), 20)
    with pytest.raises(ValueError, match=match):
        train(params, X, Y, **kwargs)


def test_train_counts_may_be_numpy_ints(key):
    # before: num_iterations=np.int64(3) (what np.arange and array indexing give) was "not a positive int"
    params, X, Y = problem(key, (3, 2, 1), 20)
    kw = dict(num_iterations=3, batch_size=10, record_every=1, key=key)
    got = train(params, X, Y, **{k: np.int64(v) if isinstance(v, int) else v for k, v in kw.items()})
    want = train(params, X, Y, **kw)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), got, want))


def test_train_rejects_mismatched_data(key):
    params, X, Y = problem(key, (3, 2, 1), 20)
    with pytest.raises(ValueError, match="X must be"):
        train(params, X[:2], Y)
    with pytest.raises(TypeError, match="mesh"):
        train(params, X, Y, mesh="cpu")


def shuffled_batches(key, m, batch_size, n_epochs):
    """The mini-batches train draws: epoch e is permutation(fold_in(key, e), m) cut into batch_size pieces."""
    batches = []
    for epoch in range(n_epochs):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), m))
        batches += [perm[i:i + batch_size] for i in range(0, m, batch_size)]
    return batches


def halving(count):  # a schedule written out, 0.1 * 0.5^(count / 10): any callable of the count works
    return 0.1 * 0.5 ** (jnp.asarray(count, jnp.float64) / 10)  # count is int32 in train: divide in float64


ADAM_COSINE = optax.adam(optax.cosine_decay_schedule(0.05, 100))  # built once: its identity is static


def cosine(count):  # optax.cosine_decay_schedule(0.05, 100) written out, for the reference
    return 0.05 * 0.5 * (1 + np.cos(np.pi * min(count, 100) / 100))


@pytest.mark.parametrize(("train_kw", "ref_kw"), [
    (dict(optimizer="sgd", learning_rate=0.1), dict(optimizer="sgd", learning_rate=0.1)),
    (dict(optimizer="adam", learning_rate=0.01), dict(optimizer="adam", learning_rate=0.01)),
    (dict(optimizer="momentum", learning_rate=halving), dict(optimizer="momentum", learning_rate=halving)),
    (dict(optimizer=ADAM_COSINE), dict(optimizer="adam", learning_rate=cosine)),
    (dict(optimizer="adam", learning_rate=0.01, batch_size=8), dict(optimizer="adam", learning_rate=0.01)),
], ids=["sgd", "adam", "momentum-schedule", "optax-adam-schedule", "adam-minibatches"])
def test_train_two_runs_of_50_equal_one_of_100_and_the_loop(key, train_kw, ref_kw):
    m = 23  # with batch_size 8: 3 batches per epoch, so step 50 resumes in the middle of epoch 16
    params, X, Y = problem(key, (3, 5, 1), m)
    k_shuffle = jax.random.key(7)
    batches = shuffled_batches(k_shuffle, m, 8, 34) if "batch_size" in train_kw else None
    want, want_costs = reference_run(params, X, Y, num_iterations=100, batches=batches, **ref_kw)
    kw = dict(train_kw, key=k_shuffle if "batch_size" in train_kw else None)
    whole, whole_costs = train(params, X, Y, num_iterations=100, **kw)
    first = train(params, X, Y, num_iterations=50, return_state=True, **kw)
    assert isinstance(first, TrainResult) and isinstance(first.state, TrainState) and int(first.state.step) == 50
    second = train(first.params, X, Y, num_iterations=50, state=first.state, return_state=True, **kw)
    assert int(second.state.step) == 100
    assert_layers_close(second.params, whole, TRAIN_TOL)
    np.testing.assert_allclose(jnp.concatenate([first.costs, second.costs]), whole_costs, rtol=1e-13)
    assert_layers_close(whole, want, TRAIN_TOL)
    np.testing.assert_allclose(whole_costs, want_costs, rtol=1e-12)


def test_train_inject_hyperparams_learning_rate_is_traced_one_compilation(key):
    params, X, Y = problem(key, (3, 5, 1), 40)
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.01)  # one object for the whole sweep
    rates = (0.01, 0.02, 0.04)
    runs = [train(params, X, Y, optimizer=tx, learning_rate=rates[0], num_iterations=30)]
    compiled = _run_jit._cache_size()
    runs += [train(params, X, Y, optimizer=tx, learning_rate=lr, num_iterations=30) for lr in rates[1:]]
    assert _run_jit._cache_size() == compiled  # new learning rates: no new compilation
    for lr, (got, costs) in zip(rates[::2], runs[::2], strict=True):  # the first and last against Ng's loop
        want, want_costs = reference_run(params, X, Y, optimizer="adam", learning_rate=lr, num_iterations=30)
        assert_layers_close(got, want, TRAIN_TOL)
        np.testing.assert_allclose(costs, want_costs, rtol=1e-12)
    swept, swept_costs = jax.vmap(lambda lr: train(params, X, Y, optimizer=tx, learning_rate=lr,
                                                   num_iterations=30))(jnp.array(rates))
    for s, (got, costs) in enumerate(runs):
        assert_layers_close(jax.tree.map(lambda a, s=s: a[s], swept), got, TRAIN_TOL)
        np.testing.assert_allclose(swept_costs[s], costs, rtol=1e-12)
    before = _run_jit._cache_size()
    train(params, X, Y, optimizer=optax.inject_hyperparams(optax.adam)(learning_rate=0.01), num_iterations=30)
    assert _run_jit._cache_size() == before + 1  # a new transformation object is a new static choice


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(learning_rate=float("nan")), "learning_rate must be a finite real number > 0"),
    (dict(learning_rate=float("inf")), "learning_rate must be a finite"),
    (dict(learning_rate=-0.1), "learning_rate must be a finite real number > 0.*got -0.1"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=0.1 + 0.1j), "learning_rate.*complex"),
    (dict(learning_rate=True), "learning_rate"),
    (dict(learning_rate=lambda count: -0.1), "schedule must return a finite value >= 0"),
    (dict(optimizer="momentum", beta=1.0), r"beta must be a real number in \[0, 1\), got 1.0"),
    (dict(optimizer="momentum", beta=-0.5), "beta must be"),
    (dict(optimizer="adam", beta1=1.5), "beta1 must be"),
    (dict(optimizer="adam", beta2=float("nan")), "beta2 must be"),
    (dict(optimizer="adam", epsilon=0.0), "epsilon must be a finite real number > 0"),
    (dict(optimizer="adam", epsilon=-1e-8), "epsilon"),
    (dict(beta=0.9), "beta is used by optimizer='momentum' only"),
    (dict(optimizer="momentum", epsilon=1e-8), "epsilon is used by optimizer='adam' only"),
    (dict(optimizer=ADAM_COSINE, learning_rate=0.1), "inject_hyperparams"),
    (dict(optimizer=ADAM_COSINE, beta1=0.5), "beta1 is used by the named optimizers only"),
    (dict(optimizer="adagrad"), "optimizer must be one of 'sgd', 'momentum', 'adam'"),
    (dict(process_local=True), "mesh"),
])
def test_train_rejects_bad_hyperparameters_by_name(key, kwargs, match):
    params, X, Y = problem(key, (3, 2, 1), 20)
    with pytest.raises(ValueError, match=match):
        train(params, X, Y, num_iterations=2, **kwargs)


@pytest.mark.parametrize(("dtype", "kwargs", "match"), [
    (jnp.float16, dict(optimizer="adam"), "epsilon .* float16, got 1e-08, which rounds to 0.0"),
    (jnp.bfloat16, dict(optimizer="adam", epsilon=1e-3), "beta2 .* bfloat16, got 0.999, which rounds to 1.0"),
    (jnp.float16, dict(learning_rate=1e-9), "learning_rate .* float16"),
])
def test_train_rejects_hyperparameters_that_round_away_in_the_params_dtype(key, dtype, kwargs, match):
    params, X, Y = problem(key, (3, 2, 1), 20, dtype=dtype)
    with pytest.raises(ValueError, match=match):
        train(params, X, Y, num_iterations=2, **kwargs)


def test_train_state_and_result_have_one_public_path():
    import jaxbp
    from jaxbp import optimizers, training

    assert (jaxbp.TrainState, jaxbp.TrainResult, jaxbp.dropout_masks) == (TrainState, TrainResult, model.dropout_masks)
    assert {"TrainState", "TrainResult", "dropout_masks"} <= set(jaxbp.__all__)
    # the hyperparameter checks live in optimizers.py; training's name for them (parallel's import) is the same
    assert training.check_hyperparameter is optimizers.check_hyperparameter


def test_train_rejects_a_state_from_another_optimizer(key):
    params, X, Y = problem(key, (3, 2, 1), 20)
    state = train(params, X, Y, optimizer="sgd", num_iterations=2, return_state=True).state
    with pytest.raises(ValueError, match="state.opt_state does not match"):
        train(params, X, Y, optimizer="adam", num_iterations=2, state=state)
    with pytest.raises(TypeError, match="TrainState"):
        train(params, X, Y, num_iterations=2, state=state.opt_state)


def test_train_float16_mini_batches_of_70000_divide_in_float32(key):
    # m = 140001, batch_size 70000: batches of 70000, 70000 and 1 (masked). The count 70000 is Inf in
    # float16 (max 65504): before, train divided by it and returned costs 0 and unchanged params.
    m, batch_size = 140001, 70000
    params, X, Y = problem(key, (3, 4, 1), m, dtype=jnp.float16)
    k_shuffle = jax.random.key(3)
    got, costs = train(params, X, Y, learning_rate=0.5, num_iterations=3, batch_size=batch_size, key=k_shuffle)
    up = lambda t: jax.tree.map(lambda a: a.astype(jnp.float64), t)  # noqa: E731
    want, want_costs = reference_run(up(params), up(X), up(Y), optimizer="sgd", learning_rate=0.5, num_iterations=3,
                                     batches=shuffled_batches(k_shuffle, m, batch_size, 1))
    assert np.all(np.isfinite(np.asarray(costs, np.float64))) and np.all(np.asarray(costs, np.float64) > 0)
    np.testing.assert_allclose(np.asarray(costs, np.float64), want_costs, rtol=F16_COST_TOL)
    for g, p0, w in zip(got, params, want, strict=True):
        for name in ("W", "b"):  # how far the params moved, against the float64 loop's move
            moved, want_moved = (np.asarray(getattr(a, name), np.float64) - np.asarray(getattr(p0, name), np.float64)
                                 for a in (g, w))
            assert rel(moved, want_moved) <= F16_STEP_TOL, (name, rel(moved, want_moved))


F16_COST_TOL = 2e-3  # float16 costs vs float64 on the same batches; measured <= 2.2e-4 (eps 9.8e-4)
F16_STEP_TOL = 2e-2  # ‖ΔW − ΔW_ref‖/(‖ΔW‖+‖ΔW_ref‖) after 3 float16 steps; measured <= 4.0e-3


def test_train_bfloat16_mesh_padding_divides_by_exactly_1003(key):
    # m = 1003 on 4 devices: 1 padded column, so the divisor is a count. W = 0, b = 0 and output identity
    # give Z[L] = 0 and L(i) = y_i^2 / 2: 400 labels 2 (L = 2), 415 labels 1 (L = 1/2), 188 labels 0.
    # sum L = 800 + 207.5 = 1007.5 exactly; J = 1007.5 / 1003 = 1.00449 -> bfloat16 1.0078125, while
    # 1007.5 / 1004 = 1.00349 (bfloat16 rounded 1003 to 1004, as before) -> bfloat16 1.0: the midpoint
    # between the two bfloat16 neighbours, 1.00390625, lies between the two quotients.
    devices = jax.devices("cpu")
    if len(devices) < 4:
        pytest.skip("needs 4 CPU devices (conftest sets 4)")
    mesh = jax.sharding.Mesh(np.array(devices[:4]), ("batch",))
    params = tuple(Layer(jnp.zeros((n, n_prev), jnp.bfloat16), jnp.zeros((n, 1), jnp.bfloat16))
                   for n_prev, n in ((3, 4), (4, 1)))
    X = jnp.ones((3, 1003), jnp.bfloat16)
    Y = jnp.concatenate([jnp.full(400, 2.0), jnp.full(415, 1.0), jnp.zeros(188)])[None].astype(jnp.bfloat16)
    for on in (None, mesh):
        _, costs = train(params, X, Y, output="identity", learning_rate=1e-3, num_iterations=1, mesh=on)
        assert float(costs[0]) == 1.0078125, (on, float(costs[0]))


@functools.partial(jax.jit, static_argnames=("hidden", "width"))
def regularized_cost_and_grads(params, Xb, Yb, step_key, lambd, keep_prob, *, hidden, width):
    """J and jax.grad of the core's L2 + dropout cost; the masks drawn for `width` columns, cut to Xb's."""
    masks = [D[:, :Xb.shape[1]] for D in model.dropout_masks(step_key, params, width, keep_prob=keep_prob)]
    kw = dict(hidden=hidden, lambd=lambd, keep_prob=keep_prob, masks=masks)
    return model.cost(params, Xb, Yb, **kw), model.autodiff_grads(params, Xb, Yb, **kw)


def regularized_reference(params, X, Y, *, learning_rate, num_iterations, lambd, keep_prob, key, batch_size=None,
                          hidden="relu"):
    """Gradient descent on jax.grad of the core's L2 + dropout cost, the masks drawn as train documents.

    (k_shuffle, k_dropout) = split(key); step i (from 0) uses dropout_masks(fold_in(k_dropout, i)) drawn
    for the batch's full width (batch_size, or m) and cut to its real columns (the ragged last batch).
    """
    m = X.shape[1]
    k_shuffle, k_dropout = jax.random.split(key)
    batches = (shuffled_batches(k_shuffle, m, batch_size, -(-num_iterations * batch_size // m) + 1)
               if batch_size else None)
    costs = []
    for i in range(num_iterations):
        cols = slice(None) if batches is None else batches[i]
        cost, grads = regularized_cost_and_grads(params, X[:, cols], Y[:, cols], jax.random.fold_in(k_dropout, i),
                                                 lambd, keep_prob, hidden=hidden, width=batch_size or m)
        costs.append(cost)
        params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
    return params, jnp.stack(costs)


@pytest.mark.parametrize("batch_size", [None, 8])  # full batch; 23 = 8 + 8 + a ragged 7
def test_train_l2_and_dropout_equal_jax_grad_descent(key, batch_size):
    params, X, Y = problem(key, (3, 6, 5, 1), 23)
    k_run = jax.random.key(11)
    kw = dict(learning_rate=0.1, lambd=0.7, keep_prob=0.8, key=k_run, batch_size=batch_size)
    want, want_costs = regularized_reference(params, X, Y, num_iterations=12, **kw)
    got, costs = train(params, X, Y, num_iterations=12, **kw)  # hand-written backprop with lambd, keep_prob
    assert_layers_close(got, want, TRAIN_TOL)
    np.testing.assert_allclose(costs, want_costs, rtol=1e-12)
    compiled = _run_jit._cache_size()
    train(params, X, Y, num_iterations=12, **{**kw, "lambd": 0.2, "keep_prob": 0.6})
    assert _run_jit._cache_size() == compiled  # lambd and keep_prob are traced
    if batch_size is not None:  # resumed mid-epoch: the same masks and batches
        first = train(params, X, Y, num_iterations=5, return_state=True, **kw)
        rest, rest_costs = train(first.params, X, Y, num_iterations=7, state=first.state, **kw)
        assert_layers_close(rest, want, TRAIN_TOL)
        np.testing.assert_allclose(jnp.concatenate([first.costs, rest_costs]), want_costs, rtol=1e-12)


@pytest.mark.parametrize(("dtype", "kwargs", "match"), [
    (jnp.float64, dict(lambd=-0.1, key=jax.random.key(0)), r"lambd must be a finite real number >= 0, got -0.1"),
    (jnp.float64, dict(lambd=float("nan")), "lambd must be"),
    (jnp.float64, dict(keep_prob=0.0, key=jax.random.key(0)), r"keep_prob must be a real number in \(0, 1\]"),
    (jnp.float64, dict(keep_prob=1.5, key=jax.random.key(0)), "keep_prob must be"),
    (jnp.float64, dict(keep_prob=0.5), "key is required when keep_prob is given"),
    (jnp.float16, dict(keep_prob=0.99999, key=jax.random.key(0)),
     "keep_prob .* float16, got 0.99999, which rounds to 1"),
])
def test_train_rejects_bad_regularization_by_name(key, dtype, kwargs, match):
    params, X, Y = problem(key, (3, 2, 1), 20, dtype=dtype)
    with pytest.raises(ValueError, match=match):
        train(params, X, Y, num_iterations=2, **kwargs)
