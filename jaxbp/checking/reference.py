"""The exact float64 reference a hand-written backprop is checked against, and finite differences.

Contract
    jax.grad of J (reduction from the placement: mean for deferred/absorbed, sum for sum) in
    float64 w.r.t. W, b and, through zero offsets added to them, Z[l] and A[l]. dZ, dA are put in
    the placement's convention: per example for deferred and sum (m dJ/dZ of the mean), dJ/dZ
    for absorbed. Central differences (J(θ + h e_i) - J(θ - h e_i)) / 2h with h = eps^(1/3)
    count the ReLU kinks their steps cross. Computed under jax.enable_x64(True), jitted.
"""

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxbp import activations, backprop, costs, model


@dataclass(frozen=True)
class Reference:
    """The exact float64 backprop of one problem, in the requested placement's convention."""

    grads: dict  # "dW1", "db1", ... -> array (jax.grad)
    dZ: tuple  # dZ[l] at index l-1 (deferred/sum: per-example dL/dZ; absorbed: dJ/dZ = that / m)
    dA: tuple  # dA[l] at index l, l = 0..L-1, same convention
    Z: tuple  # Z[l] at index l-1
    A: tuple  # A[l] at index l, l = 0..L (A[0] = X, A[L] = AL)
    W: tuple  # W[l] at index l-1
    g_prime_at_Z: dict  # activation name -> (g'(Z[1]), ..., g'(Z[L])) (no softmax)
    g_prime_at_A: tuple  # g'(A[l]) with layer l's own activation, index l-1 (None for softmax)
    dAL: np.ndarray | None  # the course's dAL = dL/dAL in the same convention (None for softmax)
    m: int
    hidden: str
    output: str
    placement: str

    @property
    def L(self):
        return len(self.W)


@functools.partial(jax.jit, static_argnames=("hidden", "output", "reduction"))
def _exact(params, X, Y, hidden, output, reduction):
    """jax.grad of J w.r.t. W, b and (through zero offsets added to them) Z[l], A[l]; plus g' tables."""
    L = len(params)

    def cost_offset(params, eZ, eA):  # J with Z[l] += eZ[l-1], A[l] += eA[l]: grads in eZ, eA are dJ/dZ, dJ/dA
        A = X + eA[0]
        for l, p in enumerate(params, start=1):
            Z = p.W @ A + p.b + eZ[l - 1]  # (n_l, m)
            A = activations.g(hidden)(Z) + eA[l] if l < L else A
        return costs.reduce(costs.loss_from_logits(Z, Y, output=output), reduction=reduction)

    AL, caches = model._forward(params, X, hidden, output)
    eZ = tuple(jnp.zeros_like(c.Z) for c in caches)
    eA = tuple(jnp.zeros_like(c.A_prev) for c in caches)
    grads, dJ_dZ, dJ_dA = jax.grad(cost_offset, argnums=(0, 1, 2))(params, eZ, eA)
    g_prime_at_Z = {n: tuple(activations.g_prime(n)(c.Z) for c in caches) for n in activations.HIDDEN}
    acts, As = [hidden] * (L - 1) + [output], [c.A_prev for c in caches[1:]] + [AL]
    g_prime_at_A = tuple(None if a == "softmax" else activations.g_prime(a)(A) for a, A in zip(acts, As, strict=True))
    dAL = None if output == "softmax" else backprop.output_dAL(AL, Y, output=output)
    return grads, dJ_dZ, dJ_dA, AL, caches, g_prime_at_Z, g_prime_at_A, dAL


def reference(layers, X, Y, *, hidden, output, placement):
    """The exact float64 backprop (a Reference) of J at the given params."""
    with jax.enable_x64(True):
        f64 = lambda a: jnp.asarray(np.asarray(a, dtype=np.float64))  # noqa: E731
        params = tuple(model.Layer(W=f64(p.W), b=f64(p.b)) for p in layers)
        out = _exact(params, f64(X), f64(Y), hidden, output, backprop.reduction_for(placement))
        grads, dJ_dZ, dJ_dA, AL, caches, g_prime_at_Z, g_prime_at_A, dAL = jax.tree.map(np.asarray, out)
    m = X.shape[1]
    k = m if placement == "deferred" else 1  # deferred (and sum) dZ is per example: m dJ/dZ of the mean
    return Reference(
        grads={f"d{q}{l}": getattr(g, q) for l, g in enumerate(grads, start=1) for q in "Wb"},
        dZ=tuple(k * d for d in dJ_dZ), dA=tuple(k * d for d in dJ_dA), Z=tuple(c.Z for c in caches),
        A=tuple(c.A_prev for c in caches) + (AL,), W=tuple(np.asarray(p.W, np.float64) for p in layers),
        g_prime_at_Z=g_prime_at_Z, g_prime_at_A=g_prime_at_A,
        dAL=None if dAL is None else dAL / (m if placement == "absorbed" else 1),
        m=m, hidden=hidden, output=output, placement=placement)


@functools.partial(jax.jit, static_argnames=("hidden", "output", "reduction"))
def _central_differences(params, X, Y, hidden, output, reduction):
    """(J(θ + h e_i) - J(θ - h e_i)) / 2h and the hidden Z entries changing side of a kink, for every i."""
    theta, unravel = ravel_pytree(params)
    h = float(np.finfo(np.float64).eps ** (1 / 3))
    side = {"relu": lambda Z: Z > 0, "leaky_relu": lambda Z: Z >= 0}.get(hidden)  # the kink's own predicate

    def one(i):
        e = jnp.zeros_like(theta).at[i].set(h)
        plus, minus = unravel(theta + e), unravel(theta - e)
        fd = (model._cost(plus, X, Y, hidden, output, reduction) - model._cost(minus, X, Y, hidden, output, reduction))
        if side is None:
            return fd / (2 * h), jnp.zeros((), theta.dtype)
        _, cp = model._forward(plus, X, hidden, output)
        _, cm = model._forward(minus, X, hidden, output)
        crossed = sum(jnp.sum(side(a.Z) != side(b.Z)) for a, b in zip(cp[:-1], cm[:-1], strict=True))
        return fd / (2 * h), crossed.astype(theta.dtype)

    fd, kinks = jax.lax.map(one, jnp.arange(theta.size), batch_size=64)
    return unravel(fd), unravel(kinks)


def finite_differences(layers, X, Y, *, hidden, output, placement):
    """({name: central-difference dJ/dθ}, {name: ReLU kinks crossed}) in float64, h = eps^(1/3)."""
    with jax.enable_x64(True):
        f64 = lambda a: jnp.asarray(np.asarray(a, dtype=np.float64))  # noqa: E731
        params = tuple(model.Layer(W=f64(p.W), b=f64(p.b)) for p in layers)
        fd, kinks = _central_differences(params, f64(X), f64(Y), hidden, output, backprop.reduction_for(placement))
        fds = {f"d{q}{l}": np.asarray(getattr(g, q)) for l, g in enumerate(fd, start=1) for q in "Wb"}
        crossed = {f"d{q}{l}": int(np.sum(getattr(g, q))) for l, g in enumerate(kinks, start=1) for q in "Wb"}
    return fds, crossed
