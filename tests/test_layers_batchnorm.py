"""Batch and layer norm against cs231n's NumPy forward; the hand-written backwards against jax.vjp."""

import functools

import jax
import numpy as np
import pytest
from layer_refs import jit_once, np_batchnorm_forward, np_layernorm_forward, worst_rel_error

from jaxbp.layers import (
    BatchNormCache,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)

CASES = [(4, 5), (7, 3), (3, 6)]  # (N, D); N = 2 cancels, see test_batchnorm_backward_two_examples_cancels
MODES = ("train", "test")
BACKWARDS = {"graph": batchnorm_backward, "alt": batchnorm_backward_alt}
# Measured values below are with the comparisons compiled at layer_refs.FAST_COMPILE (XLA's defaults in brackets).
# float64: the house bound; measured worst over CASES x MODES 1.8e-16 (graph dx, (7, 3)) [1.4e-16, alt dx],
# layer norm [1.2e-16].
TOL64 = 1e-13
# float32, hand-written against jax.vjp, both computed in float32: measured worst over CASES x MODES
# graph 6.3e-8 [5.2e-8], alt 8.4e-8 [6.6e-8], layer norm 1.1e-7 [1.0e-7] (dx, (7, 3)). The bound 1e-6
# leaves 9x room.
TOL32 = 1e-6


def problem(case, mode="train", dtype=np.float64, seed=0):
    N, D = case
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((N, D)) + 2).astype(dtype)  # not already normalised
    gamma, beta = rng.standard_normal(D).astype(dtype), rng.standard_normal(D).astype(dtype)
    bn_param = {"mode": mode, "eps": 1e-5, "momentum": 0.9,
                "running_mean": rng.standard_normal(D).astype(dtype),
                "running_var": (rng.random(D) + 0.5).astype(dtype)}
    dout = rng.standard_normal((N, D)).astype(dtype)
    return x, gamma, beta, bn_param, dout


@functools.cache
def solved(case, dtype=np.float64):
    """Everything the float tests compare, compiled once per case and dtype (both modes together):
    {mode: (out, (running_mean, running_var), {graph, alt: hand-written grads}, vjp grads)},
    and under "layernorm" (out, hand-written grads, vjp grads)."""
    x, gamma, beta, bn_param, dout = problem(case, "train", dtype)
    bn_params = {mode: {**bn_param, "mode": mode} for mode in MODES}

    def both(x, gamma, beta, dout):  # bn_params closed over: "mode" is a string
        results = {}
        for mode, bn_param in bn_params.items():
            out, cache = batchnorm_forward(x, gamma, beta, bn_param)
            hand = {name: backward(dout, cache) for name, backward in BACKWARDS.items()}
            _, pullback = jax.vjp(lambda x, g, b, p=bn_param: batchnorm_forward(x, g, b, p)[0], x, gamma, beta)
            running = (cache.bn_param["running_mean"], cache.bn_param["running_var"])  # not "mode", a string
            results[mode] = (out, running, hand, pullback(dout))
        out, cache = layernorm_forward(x, gamma, beta, {})  # eps 1e-5
        _, pullback = jax.vjp(lambda x, gamma, beta: layernorm_forward(x, gamma, beta, {})[0], x, gamma, beta)
        results["layernorm"] = (out, layernorm_backward(dout, cache), pullback(dout))
        return results

    return (x, gamma, beta, bn_params, dout), jit_once(both)(x, gamma, beta, dout)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_batchnorm_forward_matches_cs231n(case, mode):
    (x, gamma, beta, bn_params, _), results = solved(case)
    out, running, _, _ = results[mode]
    np_param = dict(bn_params[mode])
    ref = np_batchnorm_forward(x, gamma, beta, np_param)  # mutates np_param, as cs231n does
    assert worst_rel_error([out], [ref]) <= TOL64
    assert worst_rel_error(running, [np_param["running_mean"], np_param["running_var"]]) <= TOL64


def test_batchnorm_forward_does_not_mutate_bn_param():
    x, gamma, beta, bn_param, _ = problem(CASES[0])
    before = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in bn_param.items()}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    assert cache.bn_param is not bn_param and all(np.array_equal(bn_param[k], before[k]) for k in before)
    assert not np.array_equal(cache.bn_param["running_mean"], before["running_mean"])
    assert {k: v for k, v in cache.bn_param.items() if not k.startswith("running")} == {"mode": "train", "eps": 1e-5,
                                                                                        "momentum": 0.9}


def test_batchnorm_running_statistics_follow_cs231n_over_steps():
    N, D = CASES[0]
    rng = np.random.default_rng(3)
    gamma, beta = np.ones(D), np.zeros(D)
    bn_param, np_param = {"mode": "train"}, {"mode": "train"}  # no running stats yet: zeros, as cs231n
    for _ in range(3):
        x = 2 * rng.standard_normal((N, D)) + 1
        bn_param = batchnorm_forward(x, gamma, beta, bn_param)[1].bn_param
        np_batchnorm_forward(x, gamma, beta, np_param)
    # after k steps from zeros: running = (1 - 0.9) sum_j 0.9^(k-1-j) batch statistic j
    assert worst_rel_error([bn_param["running_mean"], bn_param["running_var"]],
                           [np_param["running_mean"], np_param["running_var"]]) <= TOL64


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_batchnorm_backward_matches_vjp_float64(case, mode, backward):
    (x, gamma, _, _, _), results = solved(case)
    _, _, hand, reference = results[mode]
    dx, dgamma, dbeta = hand[backward]
    assert (dx.shape, dgamma.shape, dbeta.shape) == (x.shape, gamma.shape, gamma.shape)
    assert worst_rel_error(hand[backward], reference) <= TOL64


def test_batchnorm_backward_two_examples_cancels():
    # N = 2: x_hat = +-sqrt(var / (var + eps)), so dx is the difference of terms of size gamma dout / sigma
    # that cancel to ~eps / var of it (measured: ||dx|| = 4.6e-3 against terms of 8.4), and Ng's metric,
    # relative to ||dx||, reaches 1.4e-13 (graph) and 1.1e-13 (alt). Against the terms' size the error is
    # 1.5e-16 and 1.2e-16: judged there, with the house bound.
    (x, gamma, _, _, dout), results = solved((2, 6))
    _, _, hand, reference = results["train"]
    terms = np.linalg.norm(gamma * dout / np.sqrt(x.var(axis=0) + 1e-5))
    for name in BACKWARDS:
        assert np.linalg.norm(np.asarray(hand[name][0]) - np.asarray(reference[0])) <= TOL64 * terms
        assert worst_rel_error(hand[name][1:], reference[1:]) <= TOL64


@pytest.mark.parametrize("case", CASES)
def test_layernorm_backward_matches_vjp_float64(case):
    _, results = solved(case)
    _, hand, reference = results["layernorm"]
    assert worst_rel_error(hand, reference) <= TOL64


def test_norm_backwards_match_vjp_float32():
    worst = {"graph": 0.0, "alt": 0.0, "layernorm": 0.0}
    for case in CASES:
        _, results = solved(case, np.float32)
        pairs = [(name, results[mode][2][name], results[mode][3]) for mode in MODES for name in BACKWARDS]
        for name, hand, reference in [*pairs, ("layernorm", *results["layernorm"][1:])]:
            assert all(g.dtype == np.float32 for g in hand)
            worst[name] = max(worst[name], worst_rel_error(hand, reference))
    print("norm backwards float32, worst vs vjp: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    assert max(worst.values()) <= TOL32


@pytest.mark.parametrize("case", CASES)
def test_layernorm_forward_matches_numpy(case):
    (x, gamma, beta, _, _), results = solved(case)
    assert worst_rel_error([results["layernorm"][0]], [np_layernorm_forward(x, gamma, beta)]) <= TOL64


@pytest.mark.parametrize("mode", MODES)
def test_batchnorm_forward_backward_jit(mode):
    # the jitted side: solved's program (both modes and layer norm compiled together, jax.vjp beside them)
    x, gamma, beta, bn_param, dout = problem(CASES[0], mode)
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    ln_out, ln_cache = layernorm_forward(x, gamma, beta, {})
    eager = (out, cache.bn_param["running_mean"], cache.bn_param["running_var"], batchnorm_backward(dout, cache),
             batchnorm_backward_alt(dout, cache), ln_out, layernorm_backward(dout, ln_cache))
    _, results = solved(CASES[0])
    jit_out, running, hand, _ = results[mode]
    jitted = (jit_out, *running, hand["graph"], hand["alt"], *results["layernorm"][:2])
    for u, r in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(u, r, rtol=1e-13, atol=1e-14)


BAD = {
    "mode": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {**bp, "mode": "eval"}), ValueError,
             r"bn_param\['mode'\] must be one of 'train', 'test'; got 'eval'"),
    "no mode": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {"eps": 1e-5}), ValueError,
                r"bn_param must have a 'mode' key, one of 'train', 'test'"),
    "2-D gamma": (lambda x, g, b, bp, d: batchnorm_forward(x, g[:, None], b, bp), ValueError,
                  r"gamma must be 1-D \(D,\), got shape \(5, 1\)"),
    "beta length": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b[:3], bp), ValueError,
                    r"beta must be \(D,\) = \(5,\), got \(3,\)"),
    "1-D x": (lambda x, g, b, bp, d: batchnorm_forward(x[0], g, b, bp), ValueError,
              r"x must be 2-D \(N, D\), got shape \(5,\)"),
    "running_var": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {**bp, "running_var": bp["running_var"][:4]}),
                    ValueError, r"bn_param\['running_var'\] must be \(D,\) = \(5,\), got \(4,\)"),
    "dout": (lambda x, g, b, bp, d: batchnorm_backward(d[:, :4], batchnorm_forward(x, g, b, bp)[1]), ValueError,
             r"dout must be \(N, D\) = \(4, 5\), got \(4, 4\)"),
    "alt cache": (lambda x, g, b, bp, d: batchnorm_backward_alt(d, (x, g)), TypeError,
                  r"cache must be the tuple \(x, x_hat, mu, var, gamma, eps, mode, bn_param\)"),
    "NaN x": (lambda x, g, b, bp, d: batchnorm_forward(np.where(x == x.flat[0], np.nan, x), g, b, bp), ValueError,
              r"x holds 1 non-finite value\(s\) \(NaN or Inf\)"),
    "eps negative": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {**bp, "eps": -1.0}), ValueError,
                     r"bn_param\['eps'\] must be a finite number in \(0, inf\), got -1"),
    "eps a string": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {**bp, "eps": "1e-5"}), TypeError,
                     r"bn_param\['eps'\] must be a number, got str"),
    "momentum above 1": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {**bp, "momentum": 1.5}), ValueError,
                         r"bn_param\['momentum'\] must be a finite number in \[0, 1\], got 1.5"),
    "negative running_var": (lambda x, g, b, bp, d: batchnorm_forward(x, g, b, {**bp, "mode": "test",
                                                                               "running_var": -bp["running_var"]}),
                             ValueError, r"bn_param\['running_var'\] must be >= 0"),
    "layernorm eps NaN": (lambda x, g, b, bp, d: layernorm_forward(x, g, b, {"eps": np.nan}), ValueError,
                          r"ln_param\['eps'\] must be a finite number in \(0, inf\), got nan"),
    "layernorm sigma transposed": (lambda x, g, b, bp, d: layernorm_backward(d, (lambda c: c._replace(sigma=c.sigma.T))(
        layernorm_forward(x, g, b, {})[1])), ValueError, r"cache's sigma must be \(N, 1\) = \(4, 1\), got \(1, 4\)"),
    "layernorm gamma": (lambda x, g, b, bp, d: layernorm_forward(x, g[:4], b, {}), ValueError,
                        r"gamma must be \(D,\) = \(5,\), got \(4,\)"),
    "layernorm dout": (lambda x, g, b, bp, d: layernorm_backward(d.T, layernorm_forward(x, g, b, {})[1]), ValueError,
                       r"dout must be \(N, D\) = \(4, 5\), got \(5, 4\)"),
}


@pytest.mark.parametrize("name", BAD)
def test_norm_rejects_bad_input(name):
    call, error, message = BAD[name]
    with pytest.raises(error, match=message):
        call(*problem(CASES[0]))


def test_batchnorm_cache_is_a_named_tuple_with_the_new_bn_param():
    x, gamma, beta, bn_param, _ = problem(CASES[0])
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    assert isinstance(cache, BatchNormCache) and cache.mode == "train" and cache.eps == 1e-5
    assert set(cache.bn_param) == set(bn_param)
