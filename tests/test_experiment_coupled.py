"""experiments/coupled_examples.py: the claims its report makes, and independent references for its parts.

One module-scoped quick run; each claim test reads the stored numbers, with the measured quick
value in a comment. The reference tests recompute the experiment's pieces from scratch: the nets
written out again with jnp.mean / jnp.var, jax.grad and jax.jacrev of them, Python loops over
micro-batches and shards.
"""

import fcntl
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import coupled_examples as ce
from experiments._report_text import g
from jaxbp.checking.compare import rel_error

ROUND_OFF = 1e-13  # float64; the largest round-off gap of the quick run is 2.2e-15 (worst leaf, trained)
EPS = 1e-5


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """main(["--quick", "--out", DIR]) once per test run; (DIR, results.json's "results").

    Under pytest-xdist DIR is shared by the workers (the parent of their temporary folders belongs to
    this run alone): the first to take the lock runs the experiment, the others wait and read its files.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "coupled_examples_quick"
    with open(shared / "coupled_examples_quick.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "results.json").is_file():
            assert ce.main(["--quick", "--out", str(root)]) == 0
    return root, json.loads((root / "results.json").read_text())["results"]


def each(results, net, key, pick):
    """min or max of a gap over the seeds, for both states (init, trained)."""
    return [results["stats"][net][state][key][pick] for state in ce.STATES]


def test_coupled_examples_writes_json_csv_png_and_metadata(quick):
    root, r = quick
    meta = json.loads((root / "results.json").read_text())["metadata"]
    assert meta["experiment"] == ce.NAME and meta["x64"] is True and meta["matmul_precision"] == "highest"
    assert meta["config"]["m"] == ce.Config.quick().m
    assert (root / "coupled_examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = (root / "results.csv").read_text().splitlines()
    assert csv[0].startswith("net,state,gap,claim,min,median,max") and len(csv) == 1 + len(r["rows"])
    assert not list(root.rglob("*.tmp"))


def test_coupled_examples_plain_net_every_gap_is_round_off(quick):
    _, r = quick
    L, m = r["summary"]["L"], r["m"]
    for state in ce.STATES:
        for key, v in r["stats"]["plain"][state].items():
            if ce.claim("plain", key, L=L, m=m) == "round-off":
                assert v["max"] < ROUND_OFF, (state, key)  # measured at most 7.5e-16
    for key in ("mean_coupled_vs_batch", "mean_frozen_vs_batch"):  # mean of per-example = batch gradient
        assert max(each(r, "plain", key, "max")) < 1e-12, key
    assert r["summary"]["plain|worst_round-off"] < ROUND_OFF


def test_coupled_examples_batchnorm_coupled_mean_is_the_batch_grad_frozen_and_alone_are_not(quick):
    _, r = quick
    assert max(each(r, "batchnorm", "mean_coupled_vs_batch", "max")) < ROUND_OFF  # 8.6e-16
    assert min(each(r, "batchnorm", "mean_frozen_vs_batch", "min")) > 0.1  # 0.26 (init), 0.54 (trained)
    assert min(each(r, "batchnorm", "micro|1", "min")) > 0.3  # alone: 1.0 (init), 0.71 (trained)


def test_coupled_examples_dZ_column_is_own_gradient_only_above_the_last_batch_norm(quick):
    _, r = quick
    L = r["summary"]["L"]
    for kind in ("coupled", "frozen"):
        for k in (f"Z[{L - 1}]", f"Z[{L}]"):  # above the last batch norm: nothing couples the examples
            assert max(each(r, "batchnorm", f"dZ|{k}|{kind}", "max")) < ROUND_OFF, (k, kind)  # 2.6e-16
        for k in ("U[1]", "Z[1]", f"U[{L - 1}]"):  # below it
            assert min(each(r, "batchnorm", f"dZ|{k}|{kind}", "min")) > 0.03, (k, kind)  # 0.062 .. 0.59
    for k in ("U[1]", "Z[1]", "U[2]", "Z[2]", "Z[3]"):  # the hand-written factor is m dJ/dZ in every layer
        for net in ce.NETS:
            assert max(each(r, net, f"dZ|{k}|m_dJdZ", "max")) < ROUND_OFF, (net, k)


def test_coupled_examples_deferred_equals_absorbed_and_autodiff(quick):
    _, r = quick
    for net in ce.NETS:  # m = 96 is no power of two: 1/m is rounded, yet the placements agree
        assert max(each(r, net, "deferred_vs_absorbed_worst_leaf", "max")) < ROUND_OFF  # 2.2e-15
        assert max(each(r, net, "deferred_vs_autodiff", "max")) < ROUND_OFF
        assert max(each(r, net, "absorbed_vs_autodiff", "max")) < ROUND_OFF


def test_coupled_examples_micro_batch_gap_falls_to_round_off_at_full_batch(quick):
    _, r = quick
    m, sizes = r["m"], r["micro_batch_sizes"]
    assert sizes[-1] == m
    for state in ce.STATES:
        med = [r["stats"]["batchnorm"][state][f"micro|{B}"]["median"] for B in sizes if B > 1]
        # init 0.36, 0.14, 0.049, 0.021, 2.9e-16; trained 0.85, 0.61, 0.39, 0.21, 9.9e-16 (B = 3, 12, 24, 48, m)
        assert all(a > b for a, b in zip(med, med[1:], strict=False)), (state, med)
        assert min(each(r, "batchnorm", f"micro|{sizes[-2]}", "min")) > 0.01  # 0.017 at B = m/2
    assert max(each(r, "batchnorm", f"micro|{m}", "max")) < ROUND_OFF  # 1e-15: one micro-batch is the batch
    assert not any(k.startswith("micro|") for k in r["stats"]["plain"]["init"])  # no grouping without batch norm


def test_coupled_examples_shards_are_micro_batches_and_sync_restores_the_full_batch(quick):
    _, r = quick
    m = r["m"]
    for D in r["device_counts"]:
        for state in ce.STATES:
            bn = r["stats"]["batchnorm"][state]
            assert bn[f"devices|{D}|local_vs_grouped"]["max"] < ROUND_OFF  # 9.6e-16
            assert bn[f"devices|{D}|local_vs_full"]["median"] == pytest.approx(bn[f"micro|{m // D}"]["median"],
                                                                                rel=1e-9)
            assert bn[f"devices|{D}|sync_vs_full"]["max"] < ROUND_OFF  # 1.1e-15
            assert bn[f"devices|{D}|one_vs_full"]["min"] > bn[f"devices|{D}|local_vs_full"]["min"]
    if len(jax.devices("cpu")) >= max(r["device_counts"]):  # conftest asks for 4 CPU devices
        assert r["summary"]["mesh_devices"] == list(r["device_counts"])
        for net in ce.NETS:
            assert r["summary"][f"{net}|mesh_max"] < ROUND_OFF  # 6.3e-16


def test_coupled_examples_report_section_quotes_the_stored_numbers(quick):
    root, r = quick
    text = ce.report_section(r)
    assert text == ce.report_section(json.loads((root / "results.json").read_text()))  # the whole record too
    s = r["summary"]
    for value in (s["plain|worst_round-off"], s["batchnorm|cost_trained"],
                  r["stats"]["batchnorm"]["trained"]["mean_frozen_vs_batch"]["median"],
                  r["stats"]["batchnorm"]["init"][f"micro|{r['micro_batch_sizes'][1]}"]["median"]):
        assert g(value) in text
    assert "| dU[1] |" in text and "| dZ[2] |" not in text  # the table lists the coupled factors only


def test_sizes_of_rejects_sizes_that_do_not_divide_m():
    assert ce.sizes_of(ce.Config(m=96, micro_batch_sizes=(1, 3), device_counts=(4,))) == (1, 3, 24, 96)
    with pytest.raises(ValueError, match="divide m = 96"):
        ce.sizes_of(ce.Config(m=96, micro_batch_sizes=(5,), device_counts=(4,)))
    with pytest.raises(ValueError, match="divide m = 96"):
        ce.sizes_of(ce.Config(m=96, micro_batch_sizes=(3,), device_counts=(7,)))


# ---------------------------------------------------------------- independent references
def reference_losses(params, X, Y, batchnorm, deltas=None, *, frozen=False):
    """The two nets written out again, with jnp.mean and jnp.var: the per-example losses (m,)."""
    d, A, L = deltas or {}, X, len(params)
    for l, layer in enumerate(params[:-1], start=1):
        U = layer.W @ A + d.get(f"U[{l}]", 0)
        if batchnorm:
            mu, var = jnp.mean(U, axis=1, keepdims=True), jnp.var(U, axis=1, keepdims=True)  # (n_l, 1)
            if frozen:
                mu, var = jax.lax.stop_gradient(mu), jax.lax.stop_gradient(var)
            Z = layer.gamma[:, None] * (U - mu) / jnp.sqrt(var + EPS) + layer.beta[:, None]
        else:
            Z = U + layer.beta[:, None]
        Z = Z + d.get(f"Z[{l}]", 0)
        A = jnp.where(Z > 0, Z, 0.0)  # relu, g'(0) = 0 as jaxbp's
    ZL = params[-1].W @ A + params[-1].b + d.get(f"Z[{L}]", 0)
    return (jnp.logaddexp(0.0, ZL) - Y * ZL)[0]  # binary cross-entropy from the logits


# The references are compiled as the experiment compiles (ce.fast_jit): compiling is most of their cost.
def reference_grad_of(params, X, Y, batchnorm):
    """jax.grad of the written-out mean cost J = (1/m) sum_i L(i) on the batch X."""
    return jax.grad(lambda p: jnp.mean(reference_losses(p, X, Y, batchnorm)))(params)


reference_grad = ce.fast_jit(static_argnames=("batchnorm",))(reference_grad_of)


@ce.fast_jit(static_argnames=("B",))
def reference_micro_batches(params, X, Y, B):
    """Batch norm net: each micro-batch of B columns' own gradient (a leading axis), and their mean."""
    per = jax.vmap(lambda x, y: reference_grad_of(params, x, y, True))(ce.shards(X, X.shape[1] // B),
                                                                       ce.shards(Y, Y.shape[1] // B))
    return per, ce.mean0(per)


def flat(tree):
    """The leaves of a tree as one NumPy vector (NumPy: no compile for each new set of shapes)."""
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(jax.device_get(tree))])


def index(tree, k):
    return jax.tree.map(lambda x: np.asarray(x)[k], tree)


def assert_close(a, b, bound=1e-13):  # measured at most 4e-16 in these tests
    """Ng's relative error of the two trees, as one vector each (a leaf that is 0 in both has no scale)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert rel_error(flat(a), flat(b)) < bound


@pytest.fixture(scope="module")
def problem():
    """m = 24 examples and a [2, 5, 4, 1] net, every parameter random (gamma and beta too), float64, from NumPy."""
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(2, 24)))
    Y = jnp.asarray((rng.random((1, 24)) < 0.5).astype(np.float64))
    dims = (2, 5, 4, 1)
    params = tuple(ce.BNLayer(jnp.asarray(rng.normal(size=(n, n_prev)) / np.sqrt(n_prev)),
                              jnp.asarray(1 + 0.3 * rng.normal(size=n)), jnp.asarray(0.3 * rng.normal(size=n)))
                   for n_prev, n in zip(dims[:-2], dims[1:-1], strict=True))
    params += (ce.model.Layer(jnp.asarray(rng.normal(size=(1, 4)) / 2), jnp.asarray(rng.normal(size=(1, 1)))),)
    return params, X, Y


@ce.fast_jit(static_argnames=("batchnorm",))
def by_hand_and_autodiff(params, X, Y, batchnorm):
    flag = jnp.asarray(batchnorm)
    ZL, caches = ce.forward(params, X, flag, eps=EPS)
    deferred = ce.backward(params, caches, ZL, Y, flag, placement="deferred")[0]
    absorbed = ce.backward(params, caches, ZL, Y, flag, placement="absorbed")[0]
    return deferred, absorbed, jax.grad(lambda p: jnp.mean(reference_losses(p, X, Y, batchnorm)))(params)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_coupled_backward_by_hand_matches_jax_grad_of_the_written_out_net(problem, batchnorm):
    deferred, absorbed, expected = by_hand_and_autodiff(*problem, batchnorm)
    assert_close(deferred, expected)
    assert_close(absorbed, expected)


@ce.fast_jit()
def per_example_gaps(params, X, Y):
    """Rel. errors of ce.per_example (coupled, frozen) against jax.jacrev of the written-out losses."""
    deltas = {k: jnp.zeros((n, X.shape[1]), X.dtype) for k, n in ce.positions(params).items()}
    out, gaps = ce.per_example(params, X, Y, jnp.asarray(True), eps=EPS), []
    for name, frozen in (("coupled", False), ("frozen", True)):
        per, own = out[name]
        jac_params, jac_deltas = jax.jacrev(  # row i: dL(i)/dparams; jac_deltas[k] (m, n_l, m)
            lambda p, d, f=frozen: reference_losses(p, X, Y, True, d, frozen=f), argnums=(0, 1))(params, deltas)
        gaps += [ce._common.rel_error_in_jit(a, b) for a, b in zip(jax.tree.leaves(per), jax.tree.leaves(jac_params),
                                                             strict=True)]
        gaps += [ce._common.rel_error_in_jit(own[k], jnp.einsum("ini->in", jac_deltas[k])) for k in own]
    return jnp.stack(gaps)


def test_coupled_per_example_grads_and_own_columns_match_jacobians(problem):
    assert float(jnp.max(per_example_gaps(*problem))) < 1e-13  # measured 3e-16


def test_coupled_grouped_grads_are_the_mean_of_the_micro_batch_grads(problem):
    params, X, Y = problem
    m = X.shape[1]
    grouped = ce.fast_jit()(lambda B: ce.grouped_grads(params, X, Y, jnp.asarray(True), ce.group_means(B, m, X.dtype),
                                                       eps=EPS))
    for B in (1, 6):  # B = 1: each example alone (var = 0, x_hat = 0); 6: four micro-batches
        _, expected = reference_micro_batches(params, X, Y, B)
        assert_close(grouped(B), expected)
        if B == 1:  # alone, batch norm leaves the hidden layers' W no gradient at all
            assert all(not np.any(np.asarray(layer.W)) for layer in expected[:-1])


@ce.fast_jit(static_argnames=("D",))
def on_shards(params, X, Y, D):
    return jax.vmap(lambda x, y: ce.device_grads(params, x, y, jnp.asarray(True), eps=EPS), axis_name=ce.AXIS)(
        ce.shards(X, D), ce.shards(Y, D))


def test_coupled_shards_per_device_and_synchronised_statistics(problem):
    params, X, Y = problem
    D = 4
    own, local, synced = on_shards(params, X, Y, D)
    per_shard, mean = reference_micro_batches(params, X, Y, X.shape[1] // D)
    full = reference_grad(params, X, Y, True)
    for k in range(D):
        assert_close(index(own, k), index(per_shard, k))  # each shard: its own statistics
        assert_close(index(local, k), mean)  # the pmean of those
        assert_close(index(synced, k), full)  # synchronised statistics: the full batch
    assert rel_error(flat(index(local, 0)), flat(full)) > 1e-3  # and per-device statistics are not
