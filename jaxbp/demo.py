"""`jaxbp demo`: train the course's planar 'flower' net, then verify its backprop.

Trains (2, n_h, 1) with tanh hidden units and a sigmoid output by the hand-written backprop
(one compiled lax.scan), prints the cost every k iterations and the accuracy, then compares
dW, db of every placement with jax.grad of the matching cost in float64 through jaxbp.check:
at the trained params dW is a sum of terms that nearly cancel, so the verdict is the rounding
bound of this problem (jaxbp.checking.compare), not a fixed threshold on Ng's relative error.
"""

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import backprop, datasets, model
from jaxbp.checking.checker import check
from jaxbp.training import train


def _count(least):
    def parse(text):
        value = int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text}")
        return value
    return parse


def _positive_float(text):
    value = float(text)
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jaxbp demo", description=__doc__)
    parser.add_argument("--n-h", type=_count(1), default=4, help="hidden units")
    parser.add_argument("--iterations", type=_count(0), default=10000, help="0: verify at the initial params")
    parser.add_argument("--learning-rate", type=_positive_float, default=1.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    key_data, key_init = jax.random.split(jax.random.key(args.seed))
    X, Y = datasets.flower(key_data, 400)
    params = model.init_params(key_init, (2, args.n_h, 1), method="xavier", dtype=jnp.float32)
    kw = dict(hidden="tanh", output="sigmoid")
    if args.iterations:
        params, costs = train(params, X, Y, **kw, optimizer="sgd", learning_rate=args.learning_rate,
                              num_iterations=args.iterations, record_every=1)
    else:
        costs = model.cost(params, X, Y, **kw)[None]
    costs = np.asarray(costs)
    print(f"planar flower, layer_dims (2, {args.n_h}, 1), tanh -> sigmoid, m = 400, float32, "
          f"{args.iterations} iterations of gradient descent (lr {args.learning_rate}) by hand-written backprop")
    for i in range(0, max(1, args.iterations), max(1, args.iterations // 5)):
        print(f"  cost after iteration {i:>6}: {costs[i]:.6f}")
    if not np.all(np.isfinite(costs)):
        print(f"  the cost became non-finite (NaN/Inf) at iteration {int(np.argmin(np.isfinite(costs)))}: "
              f"learning rate {args.learning_rate} is too large for this net")
    accuracy = float(jnp.mean(model.predict(params, X, **kw) == Y))
    print(f"  final cost {costs[-1]:.6f}, training accuracy {100 * accuracy:.1f}%")
    print("hand-written backprop (float64) vs jax.grad (float64) at the trained params, by jaxbp.check:")
    params64 = tuple(model.Layer(W=np.asarray(p.W, np.float64), b=np.asarray(p.b, np.float64)) for p in params)
    X64, Y64 = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    ok = True
    for placement in ("deferred", "absorbed", "sum"):
        report = check(functools.partial(_backprop64, placement=placement, **kw), params64, X64, Y64, **kw,
                       placement=placement)
        worst = max(report.rows, key=lambda r: r.bound_ratio)
        ok = ok and report.ok
        print(f"  placement={placement:<9} worst rel error {max(r.rel_error for r in report.rows):.1e}, "
              f"worst error / rounding bound {worst.bound_ratio:.1e} ({worst.name}): {'ok' if report.ok else 'WRONG'}")
    print("verified: hand-written backprop equals jax.grad within float64 rounding" if ok else
          "MISMATCH: backprop differs from jax.grad")
    return 0 if ok else 1


def _backprop64(params, X, Y, *, hidden, output, placement):
    """jaxbp's own hand-written backward in float64, the backward_fn the demo checks."""
    with jax.enable_x64(True):
        params = jax.tree.map(jnp.asarray, params)
        AL, caches = model.forward(params, jnp.asarray(X), hidden=hidden, output=output)
        return backprop.backward(params, caches, AL, jnp.asarray(Y), hidden=hidden, output=output, placement=placement)


if __name__ == "__main__":
    raise SystemExit(main())
