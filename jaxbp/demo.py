"""`jaxbp demo`: train the course's planar 'flower' net, then verify its backprop.

Trains (2, n_h, 1) with tanh hidden units and a sigmoid output by the hand-written backprop
(one compiled lax.scan), prints the cost every k iterations and the accuracy, then compares
dW, db of every placement with jax.grad of the matching cost in float64 (Ng's relative
error ||a - b|| / (||a|| + ||b||) per parameter).
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import backprop, datasets, model
from jaxbp.checking.compare import rel_error
from jaxbp.training import train


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jaxbp demo", description=__doc__)
    parser.add_argument("--n-h", type=int, default=4, help="hidden units")
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--learning-rate", type=float, default=1.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    key_data, key_init = jax.random.split(jax.random.key(args.seed))
    X, Y = datasets.flower(key_data, 400)
    params = model.init_params(key_init, (2, args.n_h, 1), method="xavier", dtype=jnp.float32)
    kw = dict(hidden="tanh", output="sigmoid")
    params, costs = train(params, X, Y, **kw, optimizer="sgd", learning_rate=args.learning_rate,
                                num_iterations=args.iterations, record_every=1)
    costs = np.asarray(costs)
    print(f"planar flower, layer_dims (2, {args.n_h}, 1), tanh -> sigmoid, m = 400, float32, "
          f"{args.iterations} iterations of gradient descent (lr {args.learning_rate}) by hand-written backprop")
    for i in range(0, args.iterations, max(1, args.iterations // 5)):
        print(f"  cost after iteration {i:>6}: {costs[i]:.6f}")
    accuracy = float(jnp.mean(model.predict(params, X, **kw) == Y))
    print(f"  final cost {costs[-1]:.6f}, training accuracy {100 * accuracy:.1f}%")
    print("backprop vs jax.grad, float64, worst relative error over dW1, db1, dW2, db2:")
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
        X64, Y64 = jnp.asarray(X, jnp.float64), jnp.asarray(Y, jnp.float64)
        AL, caches = model.forward(params64, X64, **kw)
        worst = 0.0
        for placement in ("deferred", "absorbed", "sum"):
            grads = backprop.backward(params64, caches, AL, Y64, **kw, placement=placement)
            ref = model.autodiff_grads(params64, X64, Y64, **kw, reduction=backprop.reduction_for(placement))
            error = max(rel_error(g, r) for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref), strict=True))
            worst = max(worst, error)
            print(f"  placement={placement:<9} {error:.2e}")
    ok = worst < 1e-12
    print("verified: hand-written backprop equals jax.grad" if ok else "MISMATCH: backprop differs from jax.grad")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
