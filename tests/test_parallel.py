"""jaxbp.parallel against single-device references: jax.grad in float64 of the core cost on all m columns.

conftest gives 4 CPU devices; meshes are built from jax.devices("cpu").
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import backprop, datasets, model, parallel
from jaxbp.training import train

REPO = pathlib.Path(__file__).resolve().parents[1]
TOL_F64 = 1e-12  # measured: <= 6.2e-16 for every grads case here (the psum only reorders the float64 sum)
PLACEMENTS = ("deferred", "absorbed", "sum")


def rel_error(a, b):
    """Ng's ||a - b|| / (||a|| + ||b||), the largest over the leaves of two grads trees."""
    out = []
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        out.append(np.linalg.norm(x - y) / (np.linalg.norm(x) + np.linalg.norm(y)))
    return max(out)


def problem(key, m, *, layer_dims=(3, 4, 1), output="sigmoid", dtype=jnp.float64):
    """params, X, Y with X[:, 0] = 0 so that Z[1] = b[1] = 0 exactly on that column (the kink of relu)."""
    k_p, k_x, k_y = jax.random.split(key, 3)
    params = model.init_params(k_p, layer_dims, dtype=dtype)
    X = jax.random.normal(k_x, (layer_dims[0], m), dtype).at[:, 0].set(0)
    if output == "softmax":
        Y = jax.nn.one_hot(jax.random.randint(k_y, (m,), 0, layer_dims[-1]), layer_dims[-1], dtype=dtype).T
    else:
        Y = (jax.random.uniform(k_y, (layer_dims[-1], m)) > 0.5).astype(dtype)
    return params, X, Y


def single_device(params, X, Y, placement, **kw):
    return model.autodiff_grads(params, X, Y, reduction=backprop.reduction_for(placement), **kw)


@pytest.mark.parametrize("n_devices", [1, 2, 4])
@pytest.mark.parametrize("m", [1000, 1003])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_data_parallel_grads_equal_single_device(key, n_devices, m, placement):
    params, X, Y = problem(key, m)
    grads = parallel.data_parallel_grads(params, X, Y, devices=jax.devices("cpu")[:n_devices], placement=placement)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert rel_error(grads, single_device(params, X, Y, placement)) <= TOL_F64


@pytest.mark.parametrize(("source", "start"), [("backprop", "dZL"), ("backprop", "dAL"), ("autodiff", "dZL")])
@pytest.mark.parametrize("divide", ["before", "after"])
@pytest.mark.parametrize("placement", ["deferred", "absorbed"])  # "sum" never divides: covered above
def test_data_parallel_grads_every_source_start_divide(key, source, start, divide, placement):
    params, X, Y = problem(key, 1003, layer_dims=(3, 4, 3), output="softmax")
    grads = parallel.data_parallel_grads(params, X, Y, devices=jax.devices("cpu"), hidden="relu", output="softmax",
                                         placement=placement, start=start, source=source, divide=divide)
    ref = single_device(params, X, Y, placement, hidden="relu", output="softmax")
    assert rel_error(grads, ref) <= TOL_F64


def test_data_parallel_grads_uneven_counts_and_jitted(key):
    params, X, Y = problem(key, 1003)
    counts = (700, 200, 100, 3)  # far from even; one shard almost empty
    grads = parallel.data_parallel_grads(params, X, Y, counts=counts, hidden="tanh")
    jitted = jax.jit(lambda p, x, y: parallel.data_parallel_grads(p, x, y, counts=counts, hidden="tanh"))(params, X, Y)
    ref = single_device(params, X, Y, "deferred", hidden="tanh")
    assert rel_error(grads, ref) <= TOL_F64
    assert rel_error(jitted, ref) <= TOL_F64


def test_pad_shards_layout(key):
    X = jnp.arange(10.0).reshape(2, 5)
    Y = jnp.ones((1, 5))
    Xp, Yp, mask = parallel.pad_shards(X, Y, (3, 0, 2))  # s = 3 columns per shard
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(Xp[0], [0, 1, 2, 0, 0, 0, 3, 4, 0])
    np.testing.assert_array_equal(Yp, mask)
    assert parallel.even_counts(1003, 4) == (251, 251, 251, 250)


def test_pmean_of_means_wrong_by_the_predicted_amount():
    # flower data in its stored order (class 0, then class 1): shards see different classes, so
    # their local means differ; with uneven shards the pmean weighs them 1/D instead of n_k/m.
    X, Y = datasets.flower(jax.random.key(3), 400, dtype=jnp.float64)
    params = model.init_params(jax.random.key(4), (2, 4, 1), method="xavier", dtype=jnp.float64)
    counts = (200, 100, 60, 40)
    starts = np.cumsum((0,) + counts)
    per_example = model.per_example_grads(params, X, Y, hidden="tanh")  # vmap(grad), one device
    means = [jax.tree.map(lambda g, a=a, b=b: jnp.mean(g[a:b], axis=0), per_example)  # mean_k
             for a, b in zip(starts[:-1], starts[1:], strict=True)]
    exact = single_device(params, X, Y, "deferred", hidden="tanh")
    naive = parallel.pmean_of_means_grads(params, X, Y, counts=counts, hidden="tanh")
    ours = parallel.data_parallel_grads(params, X, Y, counts=counts, hidden="tanh")
    measured = jax.tree.map(jnp.subtract, naive, exact)
    predicted = parallel.pmean_error(means, counts)
    assert rel_error(naive, exact) > 0.05  # measured 0.37: the naive result is plainly wrong
    assert rel_error(measured, predicted) <= 1e-12  # measured 1e-15: wrong by exactly the formula
    assert rel_error(ours, exact) <= TOL_F64
    even = parallel.pmean_of_means_grads(params, X, Y, counts=(100,) * 4, hidden="tanh")
    assert rel_error(even, exact) <= TOL_F64  # equal shards: pmean of means is the mean
    with pytest.raises(ValueError, match="counts must be non-negative ints"):
        parallel.pmean_error(means, (200.5, 99.5, 60, 40))
    zero = parallel.pmean_error(means, (100,) * 4)
    assert all(float(jnp.max(jnp.abs(z))) == 0 for z in jax.tree.leaves(zero))


def low_precision_errors(dtype, m):
    """rel error and non-finite count per (placement, divide) on 4 devices, against float64 of the same inputs."""
    k_p, k_x = jax.random.split(jax.random.key(0))
    params = jax.tree.map(lambda a: a.astype(dtype), model.init_params(k_p, (4, 8, 1), dtype=jnp.float32))
    X = (jax.random.normal(k_x, (4, m), jnp.float32) + 1).astype(dtype)  # positive-mean inputs: dW terms add up
    Y = jnp.ones((1, m), dtype)
    up = lambda t: jax.tree.map(lambda a: a.astype(jnp.float64), t)  # noqa: E731
    ref = model.autodiff_grads(up(params), up(X), up(Y))
    out = {}
    for placement in ("deferred", "absorbed"):
        for divide in ("before", "after"):
            g = parallel.data_parallel_grads(params, X, Y, placement=placement, divide=divide)
            n_bad = sum(int(jnp.sum(~jnp.isfinite(a))) for a in jax.tree.leaves(g))
            out[placement, divide] = (rel_error(g, ref) if n_bad == 0 else np.inf, n_bad)
    return out


def test_low_precision_divide_before_is_the_safer_default():
    # float16, m = 2^17 on 4 devices: the largest full sum of dW terms is 1.7e5 > 65504 (divide
    # after: Inf), each device's quarter 4.4e4 is not (divide before, deferred: finite); absorbed
    # divides dZ[L] by m first, so nothing overflows (its subnormal losses grow with m: see the experiment).
    m = 2**17
    f16 = low_precision_errors(jnp.float16, m)
    assert f16["deferred", "after"][1] > 0 and f16["absorbed", "after"][1] > 0
    for placement in ("deferred", "absorbed"):  # measured 2.3e-4 and 2.4e-4 (float16 eps = 9.8e-4)
        err, n_bad = f16[placement, "before"]
        assert n_bad == 0 and err < 1e-3
    # bfloat16 has float32's range: neither overflows, every variant within a few eps (measured 9e-4)
    bf16 = low_precision_errors(jnp.bfloat16, m)
    assert all(n_bad == 0 and err < 1e-2 for err, n_bad in bf16.values())


def test_sweep_equals_sequential_runs():
    X, Y = datasets.flower(jax.random.key(1), 200, dtype=jnp.float64)
    keys = jax.random.split(jax.random.key(0), 5)  # 5 runs on 4 devices: one padded copy
    learning_rates = jnp.linspace(0.1, 1.0, 5)
    options = dict(hidden="tanh", output="sigmoid", num_iterations=100)
    params, costs = parallel.sweep(keys, X, Y, layer_dims=(2, 4, 1), learning_rates=learning_rates,
                                   method="xavier", devices=jax.devices("cpu"), **options)
    assert costs.shape == (5, 100)
    for s in range(5):
        k_init, _ = jax.random.split(keys[s])
        p0 = model.init_params(k_init, (2, 4, 1), method="xavier", dtype=jnp.float64)
        p1, c1 = train(p0, X, Y, learning_rate=learning_rates[s], **options)
        assert rel_error(jax.tree.map(lambda a, s=s: a[s], params), p1) <= TOL_F64  # measured <= 1e-15
        assert float(jnp.max(jnp.abs(costs[s] - c1))) <= 1e-12
    assert float(costs[-1, -1]) < float(costs[-1, 0])  # it trains


def test_make_mesh_single_process():
    assert jax.process_count() == 1
    mesh = parallel.make_mesh()
    assert mesh.axis_names == ("batch",) and list(mesh.devices.flat) == jax.devices()


def test_process_local_in_one_process_equals_single_device(key):
    # One process holds every column: the per-host layout (1003 columns as 251, 251, 251, 250, each
    # padded to 251) must give the one-device grads and training run; the two-process test below
    # gives each process only its own columns.
    params, X, Y = problem(key, 1003)
    mesh = parallel.make_mesh(jax.devices("cpu"))
    grads = parallel.data_parallel_grads(params, X, Y, mesh=mesh, process_local=True, hidden="tanh")
    assert rel_error(grads, single_device(params, X, Y, "deferred", hidden="tanh")) <= TOL_F64
    kw = dict(optimizer="adam", learning_rate=0.01, num_iterations=6)  # mini-batches: the two-process test
    got, costs = train(params, X, Y, mesh=mesh, process_local=True, **kw)
    want, want_costs = train(params, X, Y, **kw)
    assert rel_error(got, want) <= TOL_F64 and rel_error(costs, want_costs) <= TOL_F64


def test_sweep_numeric_hyperparameters_are_traced_choices_static():
    X, Y = datasets.flower(jax.random.key(1), 60, dtype=jnp.float64)
    keys = jax.random.split(jax.random.key(0), 4)
    rates = jnp.full(4, 0.5)
    options = dict(hidden="tanh", optimizer="momentum", num_iterations=10)
    run = lambda **kw: parallel.sweep(keys, X, Y, layer_dims=(2, 3, 1), learning_rates=rates,  # noqa: E731
                                      method="xavier", devices=jax.devices("cpu"), **options, **kw)
    run(beta=0.9)
    compiled = parallel._sweep_jit._cache_size()
    betas = jnp.array([0.0, 0.3, 0.6, 0.9])
    params, costs = run(beta=betas)  # one beta per run, an array: traced, no "unhashable" error
    run(beta=0.5)
    assert parallel._sweep_jit._cache_size() == compiled  # new betas: no new compilation
    for s in range(4):  # each run equals train alone with its own beta (train = Ng's loop: test_train.py)
        p0 = model.init_params(jax.random.split(keys[s])[0], (2, 3, 1), method="xavier", dtype=jnp.float64)
        p1, c1 = train(p0, X, Y, learning_rate=0.5, beta=betas[s], **options)
        assert rel_error(jax.tree.map(lambda a, s=s: a[s], params), p1) <= TOL_F64
        assert float(jnp.max(jnp.abs(costs[s] - c1))) <= 1e-12


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(hiden="tanh"), "options must be among train's keywords.*got 'hiden'"),
    (dict(method="glorot"), "method must be one of"),
    (dict(beta=0.9), "beta is used by optimizer='momentum' only"),
    (dict(optimizer="momentum", beta=1.0), r"beta must be a real number in \[0, 1\)"),
    (dict(optimizer="momentum", beta=jnp.ones(3) * 0.5), r"beta must be a scalar or \(S,\)"),
    (dict(learning_rates=jnp.array([0.1, -0.1, 0.1, 0.1])), "learning_rate must be a finite real number > 0"),
    (dict(key=jax.random.key(0)), "sweep sets key"),
])
def test_sweep_rejects_bad_options_by_name(kwargs, match):
    X, Y = datasets.flower(jax.random.key(1), 20, dtype=jnp.float64)
    kw = dict(layer_dims=(2, 3, 1), learning_rates=jnp.full(4, 0.5), num_iterations=2) | kwargs
    with pytest.raises(ValueError, match=match):
        parallel.sweep(jax.random.split(jax.random.key(0), 4), X, Y, **kw)


def test_make_mesh_rejects_a_platform_name_and_repeated_devices():
    cpu = jax.devices("cpu")
    with pytest.raises(ValueError, match="devices must be a sequence of jax devices.*got 'cpu'"):
        parallel.make_mesh("cpu")
    with pytest.raises(ValueError, match="devices must be distinct"):
        parallel.make_mesh([cpu[0], cpu[0]])
    with pytest.raises(ValueError, match="got an element 0"):
        parallel.make_mesh([0, 1])
    repeated = jax.sharding.Mesh(np.array([cpu[0], cpu[0]]), ("batch",))
    params, X, Y = problem(jax.random.key(0), 10)
    with pytest.raises(ValueError, match="distinct"):
        parallel.data_parallel_grads(params, X, Y, mesh=repeated)


def test_bad_arguments_raise(key):
    params, X, Y = problem(key, 10)
    with pytest.raises(ValueError, match="divide"):
        parallel.data_parallel_grads(params, X, Y, divide="middle")
    with pytest.raises(ValueError, match="source"):
        parallel.data_parallel_grads(params, X, Y, source="numeric")
    with pytest.raises(ValueError, match="counts"):
        parallel.data_parallel_grads(params, X, Y, counts=(5, 5, 5, 5))
    with pytest.raises(ValueError, match="counts"):
        parallel.data_parallel_grads(params, X, Y, counts=(5, 5))
    with pytest.raises(ValueError, match="counts must be non-negative ints"):  # not truncated to (2, 2, 2, 2)
        parallel.data_parallel_grads(params, X, Y, counts=(2.5, 2.5, 2.5, 2.5))
    with pytest.raises(ValueError, match="counts must be non-negative ints"):
        parallel.data_parallel_grads(params, X, Y, counts=(True, 7, 1, 1))
    with pytest.raises(ValueError, match="counts is for global X"):
        parallel.data_parallel_grads(params, X, Y, counts=(4, 2, 2, 2), process_local=True)
    with pytest.raises(ValueError, match="process_local must be True or False"):
        parallel.data_parallel_grads(params, X, Y, process_local="yes")
    with pytest.raises(ValueError, match="mesh or devices"):
        parallel.data_parallel_grads(params, X, Y, mesh=parallel.make_mesh(), devices=jax.devices())
    with pytest.raises(ValueError, match="X must be"):
        parallel.data_parallel_grads(params, X[:2], Y)


WORKER = textwrap.dedent('''
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_num_cpu_devices", 2)
    pid, port = int(sys.argv[1]), sys.argv[2]
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
                               initialization_timeout=60)
    import jax.numpy as jnp
    import numpy as np
    from jaxbp import model, parallel
    from jaxbp.training import train

    def rel_error(a, b):
        return max(float(np.linalg.norm(np.asarray(x) - np.asarray(y))
                         / (np.linalg.norm(np.asarray(x)) + np.linalg.norm(np.asarray(y))))
                   for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)   # the same data on every process
    params = model.init_params(k1, (3, 5, 1), dtype=jnp.float64)
    X = jax.random.normal(k2, (3, 1003), jnp.float64)
    Y = (jax.random.uniform(k3, (1, 1003)) > 0.5).astype(jnp.float64)
    mesh = parallel.make_mesh()                           # jax.devices(): both processes' devices
    out = {"process_count": jax.process_count(), "n_devices": mesh.devices.size,
           "owners": [d.process_index for d in mesh.devices.flat]}
    grads = parallel.data_parallel_grads(params, X, Y, mesh=mesh, hidden="tanh")
    out["global"] = rel_error(grads, model.autodiff_grads(params, X, Y, hidden="tanh"))
    for m_0 in (502, 800):                                # per host: process 0 holds m_0 columns, process 1 the rest
        mine = slice(0, m_0) if pid == 0 else slice(m_0, 1003)
        X_p, Y_p = X[:, mine], Y[:, mine]                 # all this process passes on
        grads = parallel.data_parallel_grads(params, X_p, Y_p, mesh=mesh, process_local=True, hidden="tanh")
        out[f"grads {m_0}"] = rel_error(grads, model.autodiff_grads(params, X, Y, hidden="tanh"))
        batch_size = None if m_0 == 502 else 300          # full batch; mini-batches of 300 (a ragged 103)
        kw = dict(optimizer="adam", learning_rate=0.01, num_iterations=12, batch_size=batch_size, key=k4)
        got, costs = train(params, X_p, Y_p, mesh=mesh, process_local=True, **kw)
        want, want_costs = train(params, X, Y, **kw)      # one device, every column
        out[f"train {m_0} {batch_size}"] = max(rel_error(got, want), rel_error(costs, want_costs))
    print("RESULT " + json.dumps(out), flush=True)
    jax.distributed.shutdown()
''')


def test_two_processes_on_localhost_equal_single_device(tmp_path):
    """Two processes under jax.distributed: global X on both, and per host (each holds only its columns)."""
    with socket.socket() as s:  # a free port on 127.0.0.1 only
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")  # XLA_FLAGS as the suite's (conftest)
    procs = [subprocess.Popen([sys.executable, str(script), str(pid), str(port)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for pid in (0, 1)]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=180)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = [json.loads(line[len("RESULT "):]) for out in outputs for line in out.splitlines()
               if line.startswith("RESULT ")]
    assert len(results) == 2, "\n".join(o[-3000:] for o in outputs)
    for r in results:
        assert r["process_count"] == 2 and r["n_devices"] == 4 and r["owners"] == [0, 0, 1, 1]
        errors = {name: value for name, value in r.items() if name.startswith(("global", "grads", "train"))}
        assert len(errors) == 5 and max(errors.values()) <= TOL_F64, errors  # measured: see README


