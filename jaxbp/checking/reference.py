"""The exact float64 reference a hand-written backprop is checked against, and finite differences.

Contract
    jax.grad of J (reduction from the placement: mean for deferred/absorbed, sum for sum) in
    float64 w.r.t. W, b and, through zero offsets added to them, Z[l] and A[l]. dZ, dA are put in
    the placement's convention: per example for deferred and sum (m dJ/dZ of the mean), dJ/dZ
    for absorbed. Central differences (J(θ + h e_i) - J(θ - h e_i)) / 2h with h = eps^(1/3)
    count the ReLU kinks their steps cross. Computed under jax.enable_x64(True), jitted.
L2 and inverted dropout (the course's C2W1), both optional:
    J = (1/m) Σ L(i) + (λ / 2m) Σ_l ||W[l]||²      (sum placement: Σ L(i) + (λ/2) Σ_l ||W[l]||²)
    A[l] = g(Z[l]) * D[l] / keep_prob  for hidden l, D[l] the learner's 0/1 mask (n_l, m)
    dA[l] is then ∂J/∂g(Z[l]), after the mask, as the course stores it: dA2 = (W3.T dZ3) * D2 / keep_prob.
One jitted function (the gradients only, so it compiles in a fraction of a second); the forward
values and the g′ tables the diagnosis tries are NumPy float64, with the predicates of activations.py.
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
    dA: tuple  # dA[l] at index l, l = 0..L-1, same convention (after the dropout mask, as the course stores it)
    Z: tuple  # Z[l] at index l-1
    A: tuple  # A[l] at index l, l = 0..L (A[0] = X, A[L] = AL; hidden A after dropout)
    W: tuple  # W[l] at index l-1
    g_prime_at_Z: dict  # activation name -> (g'(Z[1]), ..., g'(Z[L])) (no softmax)
    g_prime_at_A: tuple  # g'(A[l]) with layer l's own activation, index l-1 (None for softmax)
    dAL: np.ndarray | None  # the course's dAL = dL/dAL in the same convention (None for softmax)
    m: int
    hidden: str
    output: str
    placement: str
    cost: float = float("nan")  # J at the params, L2 term included
    lambd: float = 0.0
    keep_prob: float = 1.0
    mask: tuple | None = None  # D[l] / keep_prob at index l-1 for hidden l; None without dropout

    @property
    def L(self):
        return len(self.W)

    @property
    def l2(self):
        """The coefficient c of the L2 term in dW[l] = ... + c W[l] (λ/m, or λ for the sum placement)."""
        return self.lambd if self.placement == "sum" else self.lambd / self.m


def _sigmoid(Z):
    return np.exp(-np.logaddexp(0, -Z))  # = 1 / (1 + exp(-Z)) without overflow, and > 0 where Z << 0


# NumPy float64 g and g' (same predicates at the kinks as activations.py; tests compare the two).
NP_G = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda Z: np.where(Z > 0, Z, 0 * Z),
        "leaky_relu": lambda Z: np.where(Z >= 0, Z, activations.LEAKY_SLOPE * Z), "identity": lambda Z: Z}
NP_G_PRIME = {"sigmoid": lambda Z: _sigmoid(Z) * (1 - _sigmoid(Z)), "tanh": lambda Z: 1 - np.tanh(Z) ** 2,
              "relu": lambda Z: (Z > 0).astype(Z.dtype),
              "leaky_relu": lambda Z: np.where(Z >= 0, 1.0, activations.LEAKY_SLOPE).astype(Z.dtype),
              "identity": np.ones_like}


def _np_softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


@functools.partial(jax.jit, static_argnames=("hidden", "output", "reduction"))
def _exact(params, X, Y, mult, lambd, hidden, output, reduction):
    """J and jax.grad of J w.r.t. W, b and (through zero offsets added to them) Z[l], g(Z[l]); and Z[l]."""
    L, m = len(params), X.shape[1]

    def cost_offset(params, eZ, eA):  # J with Z[l] += eZ[l-1], g(Z[l]) += eA[l]: grads in eZ, eA are dJ/dZ, dJ/dA
        A, Zs = X + eA[0], []
        for l, p in enumerate(params, start=1):
            Z = p.W @ A + p.b + eZ[l - 1]  # (n_l, m)
            Zs.append(Z)
            if l < L:
                A = activations.g(hidden)(Z) + eA[l]
                A = A if mult is None else A * mult[l - 1]  # inverted dropout: D[l] / keep_prob
        J = costs.reduce(costs.loss_from_logits(Z, Y, output=output), reduction=reduction)
        l2 = sum(jnp.sum(p.W * p.W) for p in params)
        return J + lambd / 2 * l2 / (m if reduction == "mean" else 1), tuple(Zs)

    eZ = tuple(jnp.zeros((p.W.shape[0], m), X.dtype) for p in params)
    eA = (jnp.zeros_like(X),) + eZ[:-1]
    (J, Zs), grads = jax.value_and_grad(cost_offset, argnums=(0, 1, 2), has_aux=True)(params, eZ, eA)
    return J, grads, Zs


def reference(layers, X, Y, *, hidden, output, placement, lambd=0.0, keep_prob=1.0, masks=None):
    """The exact float64 backprop (a Reference) of J at the given params.

    lambd: the L2 strength λ; masks: the learner's dropout masks D[1..L-1] (0/1, (n_l, m)) with keep_prob.
    """
    f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    params = tuple(model.Layer(W=f64(p.W), b=f64(p.b)) for p in layers)
    X64, Y64 = f64(X), f64(Y)
    mult = None if masks is None else tuple(f64(D) / keep_prob for D in masks)
    with jax.enable_x64(True):
        J, (grads, dJ_dZ, dJ_dA), Zs = jax.tree.map(
            np.asarray, _exact(params, X64, Y64, mult, float(lambd), hidden, output, backprop.reduction_for(placement)))
    m, L = X.shape[1], len(params)
    A = [X64]
    for l, Z in enumerate(Zs[:-1], start=1):
        A.append(NP_G[hidden](Z) * (1 if mult is None else mult[l - 1]))
    AL = _np_softmax(Zs[-1]) if output == "softmax" else NP_G[output](Zs[-1])
    A.append(AL)
    g_prime_at_Z = {n: tuple(g(Z) for Z in Zs) for n, g in NP_G_PRIME.items()}
    acts = [hidden] * (L - 1) + [output]
    g_prime_at_A = tuple(None if a == "softmax" else NP_G_PRIME[a](A[l]) for l, a in enumerate(acts, start=1))
    with np.errstate(divide="ignore", invalid="ignore"):  # AL rounds to 0 or 1 at a converged point: dAL is Inf
        dAL = None if output == "softmax" else np.asarray(backprop.output_dAL(AL, Y64, output=output))
    k = m if placement == "deferred" else 1  # deferred (and sum) dZ is per example: m dJ/dZ of the mean
    return Reference(
        grads={f"d{q}{l}": getattr(g, q) for l, g in enumerate(grads, start=1) for q in "Wb"},
        dZ=tuple(k * d for d in dJ_dZ), dA=tuple(k * d for d in dJ_dA), Z=tuple(Zs), A=tuple(A),
        W=tuple(p.W for p in params), g_prime_at_Z=g_prime_at_Z, g_prime_at_A=g_prime_at_A,
        dAL=None if dAL is None else dAL / (m if placement == "absorbed" else 1),
        m=m, hidden=hidden, output=output, placement=placement, cost=float(J), lambd=float(lambd),
        keep_prob=float(keep_prob), mask=mult)


@functools.partial(jax.jit, static_argnames=("activation",))
def _step(dA, A_prev, W, b, activation):
    """The course's one-layer backward as jax.grad: J = (1/m) Σ dA ⊙ g(W A_prev + b), so that
    ∂J/∂W = dW, ∂J/∂b = db (1/m inside), m ∂J/∂A_prev = dA_prev and m ∂J/∂Z = dZ (per example)."""
    m = A_prev.shape[1]

    def J(W, b, A_prev, eZ):
        return jnp.sum(dA * activations.g(activation)(W @ A_prev + b + eZ)) / m

    dW, db, dJ_dA_prev, dJ_dZ = jax.grad(J, argnums=(0, 1, 2, 3))(W, b, A_prev, jnp.zeros_like(dA))
    return dW, db, m * dJ_dA_prev, m * dJ_dZ


def step_reference(dA, A_prev, W, b, *, activation):
    """{"dA_prev", "dW", "db", "dZ"} of one layer's backward in float64, from jax.grad (see _step)."""
    f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    with jax.enable_x64(True):
        out = jax.tree.map(np.asarray, _step(f64(dA), f64(A_prev), f64(W), f64(b), activation))
    return dict(zip(("dW", "db", "dA_prev", "dZ"), out, strict=True))


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
