"""A catalogue of bad calls: every exported function of the core, every class of bad input.

Each row is (call, exception type, pattern): the call must raise exactly that type (not a subclass
of another, not a KeyError from a lookup), with a message naming the argument, before any work.
One tiny float64 problem, built by NumPy, all calls eager.
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import activations, backprop, costs, fast, model, parallel, shapes
from jaxbp.model import Cache, Layer

COLUMNS = dict(
    layout="columns", hidden="relu", output="sigmoid", grads_from="backprop", placement="deferred", start="dZL"
)


def tiny():
    """params (4, 3, 2), X (4, 5), Y (2, 5), the forward's AL and caches, a dropout run; float64."""
    rng = np.random.default_rng(0)
    f = lambda *shape: jnp.asarray(rng.normal(size=shape))  # noqa: E731
    params = (Layer(f(3, 4), f(3, 1)), Layer(f(2, 3), f(2, 1)))
    X, Y = f(4, 5), jnp.asarray((rng.random((2, 5)) < 0.5).astype(np.float64))
    AL, caches = model.forward(params, X, hidden="tanh")
    D = (jnp.asarray([[1.0, 0, 1, 1, 0], [1, 1, 0, 1, 1], [0, 1, 1, 1, 1]]),)
    AL_drop, caches_drop = model.forward(params, X, hidden="tanh", keep_prob=0.5, masks=D)
    return types.SimpleNamespace(
        params=params,
        X=X,
        Y=Y,
        AL=AL,
        caches=caches,
        D=D,
        AL_drop=AL_drop,
        caches_drop=caches_drop,
        mask=jnp.ones((1, 5)),
        key=jax.random.key(0),
    )


def bw(n, **kw):
    """backward on the tiny tanh/sigmoid net, with kw overriding its arguments."""
    args = dict(params=n.params, caches=n.caches, AL=n.AL, Y=n.Y)
    args.update({k: kw.pop(k) for k in list(kw) if k in args})
    return backprop.backward(
        args["params"], args["caches"], args["AL"], args["Y"], **{"hidden": "tanh", "output": "sigmoid", **kw}
    )


def replace_layer(params, l, **fields):
    return tuple(p._replace(**fields) if i == l else p for i, p in enumerate(params, start=1))


def replace_cache(caches, l, **fields):
    return tuple(c._replace(**fields) if i == l else c for i, c in enumerate(caches, start=1))


V, T = ValueError, TypeError
CHOICE = r" must be one of .*; got "
M_BAD = [
    (0, V, r"m must be an int in \[1, inf\), got 0"),
    (-3, V, r"m must be an int in \[1, inf\), got -3"),
    (2.5, V, r"m must be an int, got the float 2.5"),
    (5.0, V, r"m must be an int, got the float 5.0"),
    (True, V, r"m must be a number, got the bool True"),
    ("5", T, r"m must be a number, got str"),
    (jnp.array([5]), V, r"m must be 0-D"),
    (jnp.array(2.5), V, r"m must be an int in \[1, inf\), got 2.5"),
]
KEEP_BAD = [
    (0.0, r"\(0, 1\], got 0"),
    (1.5, r"\(0, 1\], got 1.5"),
    (-0.2, r"\(0, 1\], got -0.2"),
    (float("nan"), r"\(0, 1\], got nan"),
    (True, r"keep_prob must be a number, got the bool"),
]
LAMBD_BAD = [
    (-1.0, r"lambd must be a finite number in \[0, inf\), got -1"),
    (float("inf"), r"lambd must be a finite number"),
    (float("nan"), r"lambd must be a finite number"),
    (jnp.ones(2), r"lambd must be 0-D"),
]

CASES = {
    # --- choices: a typo, another case, None --------------------------------------------------------------
    "forward hidden typo": (lambda n: model.forward(n.params, n.X, hidden="ReLU"), V, r"hidden" + CHOICE + "'ReLU'"),
    "forward hidden None": (lambda n: model.forward(n.params, n.X, hidden=None), V, r"hidden" + CHOICE + "None"),
    "forward output typo": (lambda n: model.forward(n.params, n.X, output="logistic"), V, r"output" + CHOICE),
    "cost reduction typo": (
        lambda n: model.cost(n.params, n.X, n.Y, reduction="Mean"),
        V,
        r"reduction" + CHOICE + "'Mean'",
    ),
    "autodiff_grads output None": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, output=None),
        V,
        r"output" + CHOICE,
    ),
    "per_example_grads hidden typo": (
        lambda n: model.per_example_grads(n.params, n.X, n.Y, hidden="tanhh"),
        V,
        r"hidden" + CHOICE,
    ),
    "predict output typo": (lambda n: model.predict(n.params, n.X, output="Softmax"), V, r"output" + CHOICE),
    "init_params method typo": (lambda n: model.init_params(n.key, (2, 1), method="He"), V, r"method" + CHOICE),
    "dropout_masks layout typo": (
        lambda n: model.dropout_masks(n.key, n.params, 5, keep_prob=0.5, layout="cols"),
        V,
        r"layout" + CHOICE,
    ),
    "backward placement Deferred": (lambda n: bw(n, placement="Deferred"), V, r"placement" + CHOICE + "'Deferred'"),
    "backward placement bogus": (lambda n: bw(n, placement="bogus"), V, r"placement" + CHOICE + "'bogus'"),
    "backward placement None": (lambda n: bw(n, placement=None), V, r"placement" + CHOICE + "None"),
    "backward start typo": (lambda n: bw(n, start="dzl"), V, r"start must be one of 'dZL', 'dAL'; got 'dzl'"),
    "backward hidden None": (lambda n: bw(n, hidden=None), V, r"hidden" + CHOICE + "None"),
    "backward output typo": (lambda n: bw(n, output="sigmoids"), V, r"output" + CHOICE),
    "backward dZL start for tanh output": (
        lambda n: bw(n, output="tanh"),
        V,
        r"start='dZL'.*output='tanh'.*use start='dAL'",
    ),
    "linear_backward placement Deferred": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev, n.params[1].W, placement="Deferred"),
        V,
        r"placement" + CHOICE,
    ),
    "linear_backward placement None": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev, n.params[1].W, placement=None),
        V,
        r"placement" + CHOICE,
    ),
    "activation_backward unknown": (
        lambda n: backprop.activation_backward(n.X, n.X, activation="ReLU"),
        V,
        r"activation must be one of 'sigmoid'.*'softmax'; got 'ReLU'",
    ),
    "activation_backward None": (
        lambda n: backprop.activation_backward(n.X, n.X, activation=None),
        V,
        r"activation" + CHOICE,
    ),
    "backward_from hidden typo": (
        lambda n: backprop.backward_from(n.AL - n.Y, n.params, n.caches, hidden="Tanh"),
        V,
        r"hidden" + CHOICE,
    ),
    "backward_from placement typo": (
        lambda n: backprop.backward_from(n.AL - n.Y, n.params, n.caches, hidden="tanh", placement="mean"),
        V,
        r"placement" + CHOICE,
    ),
    "output_dAL output typo": (lambda n: backprop.output_dAL(n.AL, n.Y, output="bce"), V, r"output" + CHOICE),
    "output_dZL start typo": (
        lambda n: backprop.output_dZL(n.AL, n.Y, n.caches, output="sigmoid", start="AL", placement="deferred", m=5),
        V,
        r"start" + CHOICE,
    ),
    "reduction_for typo": (lambda n: backprop.reduction_for("Sum"), V, r"placement" + CHOICE + "'Sum'"),
    "g unknown": (lambda n: activations.g("gelu"), V, r"activation must be one of .*; got 'gelu'"),
    "g_prime of softmax": (
        lambda n: activations.g_prime("softmax"),
        V,
        r"activation must be one of 'sigmoid'.*; got 'softmax'",
    ),
    "loss_from_logits output typo": (lambda n: costs.loss_from_logits(n.AL, n.Y, output="mse"), V, r"output" + CHOICE),
    "loss_from_probabilities output None": (
        lambda n: costs.loss_from_probabilities(n.AL, n.Y, output=None),
        V,
        r"output" + CHOICE,
    ),
    "reduce reduction typo": (lambda n: costs.reduce(jnp.ones((1, 5)), reduction="avg"), V, r"reduction" + CHOICE),
    "compute_cost reduction typo": (
        lambda n: costs.compute_cost(n.AL, n.Y, reduction="total"),
        V,
        r"reduction" + CHOICE,
    ),
    "compute_cost output typo": (lambda n: costs.compute_cost(n.AL, n.Y, output="sigmod"), V, r"output" + CHOICE),
    "cost_and_grads layout typo": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, **{**COLUMNS, "layout": "row"}),
        V,
        r"layout" + CHOICE,
    ),
    "cost_and_grads grads_from typo": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, **{**COLUMNS, "grads_from": "grad"}),
        V,
        r"grads_from" + CHOICE,
    ),
    "cost_and_grads placement typo": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, **{**COLUMNS, "placement": "Sum"}),
        V,
        r"placement" + CHOICE,
    ),
    # --- dtypes -------------------------------------------------------------------------------------------
    "forward integer X": (lambda n: model.forward(n.params, n.X.astype(jnp.int32)), T, r"X must have a floating dtype"),
    "forward float32 X, float64 params": (
        lambda n: model.forward(n.params, n.X.astype(jnp.float32)),
        T,
        r"X has dtype float32 but the params have float64",
    ),
    "forward b dtype": (
        lambda n: model.forward(replace_layer(n.params, 2, b=n.params[1].b.astype(jnp.float32)), n.X),
        T,
        r"b\[2\] has dtype float32 but W\[2\] has float64",
    ),
    "forward W dtype": (
        lambda n: model.forward(
            replace_layer(n.params, 2, W=n.params[1].W.astype(jnp.float32), b=n.params[1].b.astype(jnp.float32)), n.X
        ),
        T,
        r"W\[2\] has dtype float32 but W\[1\] has float64",
    ),
    "cost complex Y": (lambda n: model.cost(n.params, n.X, n.Y.astype(jnp.complex64)), T, r"Y must have a real dtype"),
    "init_params integer dtype": (
        lambda n: model.init_params(n.key, (2, 1), dtype=jnp.int32),
        T,
        r"dtype must be a floating dtype",
    ),
    "linear_forward integer A_prev": (
        lambda n: model.linear_forward(n.X.astype(jnp.int32), n.params[0].W, n.params[0].b),
        T,
        r"A_prev must have a floating dtype",
    ),
    "linear_forward mixed dtypes": (
        lambda n: model.linear_forward(n.X.astype(jnp.float32), n.params[0].W, n.params[0].b),
        T,
        r"A_prev has dtype float32 but W has float64",
    ),
    "linear_backward mixed dtypes": (
        lambda n: backprop.linear_backward(n.caches[1].Z.astype(jnp.float32), n.caches[1].A_prev, n.params[1].W),
        T,
        r"dZ has dtype float32 but W",
    ),
    "activation_backward mixed dtypes": (
        lambda n: backprop.activation_backward(n.X.astype(jnp.float32), n.X, activation="relu"),
        T,
        r"dA has dtype float32 but Z has float64",
    ),
    "activation_backward integer Z": (
        lambda n: backprop.activation_backward(n.X, n.X.astype(jnp.int32), activation="relu"),
        T,
        r"Z must have a floating dtype",
    ),
    "backward float32 AL": (lambda n: bw(n, AL=n.AL.astype(jnp.float32)), T, r"AL has dtype float32 but the params"),
    "backward float32 caches": (
        lambda n: bw(n, caches=replace_cache(n.caches, 2, Z=n.caches[1].Z.astype(jnp.float32))),
        T,
        r"caches\[1\].Z has dtype float32",
    ),
    "backward_from float32 dZL": (
        lambda n: backprop.backward_from((n.AL - n.Y).astype(jnp.float32), n.params, n.caches, hidden="tanh"),
        T,
        r"dZL has dtype float32",
    ),
    "compute_cost integer AL": (
        lambda n: costs.compute_cost(np.array([[1, 0]]), np.array([[1, 0]])),
        T,
        r"AL must have a floating",
    ),
    "mask complex": (
        lambda n: model.cost(n.params, n.X, n.Y, mask=jnp.ones((1, 5), jnp.complex64)),
        T,
        r"mask must have a real dtype",
    ),
    # --- arrays: not an array, rank, shape ------------------------------------------------------------------
    "forward list X": (lambda n: model.forward(n.params, [[1.0]]), T, r"X must be an array, got list"),
    "forward 1-D X": (lambda n: model.forward(n.params, n.X[0]), V, r"X must be 2-D, got shape \(5,\)"),
    "forward X rows != n_x": (
        lambda n: model.forward(n.params, n.X[:3]),
        V,
        r"X must be \(n_x, m\) with n_x = n\[0\] = 4",
    ),
    "forward m = 0": (
        lambda n: model.forward(n.params, n.X[:, :0]),
        V,
        r"X must hold at least one example \(m >= 1\), got m = 0",
    ),
    "forward params dict": (
        lambda n: model.forward({"W1": n.params[0].W}, n.X),
        T,
        r"params must be a non-empty tuple of Layer",
    ),
    "forward params empty": (lambda n: model.forward((), n.X), T, r"params must be a non-empty tuple"),
    "forward params[1] not a Layer": (
        lambda n: model.forward((n.params[0], (1, 2)), n.X),
        T,
        r"params\[1\] must be a Layer",
    ),
    "forward W does not chain": (
        lambda n: model.forward(replace_layer(n.params, 2, W=jnp.ones((2, 4))), n.X),
        V,
        r"W\[2\] must be \(n\[2\], n\[1\]\) = \(2, 3\), got \(2, 4\)",
    ),
    "forward 1-D b": (
        lambda n: model.forward(replace_layer(n.params, 1, b=n.params[0].b[:, 0]), n.X),
        V,
        r"b\[1\] must be \(n\[1\], 1\) = \(3, 1\), got \(3,\)",
    ),
    "forward b transposed": (
        lambda n: model.forward(replace_layer(n.params, 1, b=n.params[0].b.T), n.X),
        V,
        r"b\[1\] must be \(n\[1\], 1\) = \(3, 1\), got \(1, 3\)",
    ),
    "cost 1-D Y": (
        lambda n: model.cost(n.params, n.X, n.Y[0]),
        V,
        r"Y must be 2-D \(n_y, m\) = \(2, 5\), got shape \(5,\)",
    ),
    "cost Y transposed": (
        lambda n: model.cost(n.params, n.X, n.Y.T),
        V,
        r"Y must be \(n_y, m\) = \(2, 5\) to match AL",
    ),
    "cost Y a list": (lambda n: model.cost(n.params, n.X, [[0.0] * 5] * 2), T, r"Y must be an array, got list"),
    "backward Y wrong m": (lambda n: bw(n, Y=n.Y[:, :4]), V, r"Y must be \(n_y, m\) = \(2, 5\)"),
    "backward AL wrong shape": (lambda n: bw(n, AL=n.AL[:1]), V, r"AL must be \(n\[L\], m\) = \(2, 5\), got \(1, 5\)"),
    "backward AL 1-D": (lambda n: bw(n, AL=n.AL[0]), V, r"AL must be 2-D"),
    "backward too few caches": (
        lambda n: bw(n, caches=n.caches[:1]),
        V,
        r"caches must hold one Cache per layer \(L = 2\), got 1",
    ),
    "backward caches not Caches": (lambda n: bw(n, caches=((1, 2), (3, 4))), T, r"caches\[0\] must be a Cache"),
    "backward cache wrong shape": (
        lambda n: bw(n, caches=replace_cache(n.caches, 2, Z=n.caches[1].Z[:, :4])),
        V,
        r"caches\[1\] must hold A\[1\] \(3, 5\) and Z\[2\] \(2, 5\)",
    ),
    "linear_forward shapes": (
        lambda n: model.linear_forward(n.X, n.params[1].W, n.params[1].b),
        V,
        r"linear_forward needs W \(n_l, n_prev\), A_prev \(n_prev, m\), b \(n_l, 1\)",
    ),
    "linear_forward 1-D b": (
        lambda n: model.linear_forward(n.X, n.params[0].W, n.params[0].b[:, 0]),
        V,
        r"b must be 2-D",
    ),
    "linear_backward shapes": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.X, n.params[1].W),
        V,
        r"linear_backward needs dZ \(n_l, m\), A_prev \(n_prev, m\), W \(n_l, n_prev\)",
    ),
    "activation_backward shapes": (
        lambda n: backprop.activation_backward(n.X[:2], n.X, activation="relu"),
        V,
        r"dA must have Z's shape \(4, 5\), got \(2, 5\)",
    ),
    "backward_from dZL wrong shape": (
        lambda n: backprop.backward_from(n.AL[:1] - n.Y[:1], n.params, n.caches, hidden="tanh"),
        V,
        r"dZL must be \(n\[L\], m\) = \(2, 5\), got \(1, 5\)",
    ),
    "loss_from_logits 1-D ZL": (lambda n: costs.loss_from_logits(n.AL[0], n.Y, output="sigmoid"), V, r"ZL must be 2-D"),
    "loss_from_logits Y shape": (
        lambda n: costs.loss_from_logits(n.AL, n.Y[:1], output="sigmoid"),
        V,
        r"Y must be \(n_y, m\) = \(2, 5\)",
    ),
    "reduce 2 rows": (lambda n: costs.reduce(jnp.ones((2, 5))), V, r"per_example_loss must be \(1, m\), got \(2, 5\)"),
    "compute_cost Y shape": (lambda n: costs.compute_cost(n.AL, n.Y[:, :3]), V, r"Y must be \(n_y, m\) = \(2, 5\)"),
    "init_params layer_dims too short": (
        lambda n: model.init_params(n.key, (3,)),
        V,
        r"layer_dims must be \(n_x, n_1, ..., n_L\)",
    ),
    "init_params layer_dims zero": (lambda n: model.init_params(n.key, (3, 0)), V, r"layer_dims must be"),
    "init_params layer_dims bool": (lambda n: model.init_params(n.key, (3, True)), V, r"layer_dims must be"),
    "init_params layer_dims float": (lambda n: model.init_params(n.key, (3, 2.0)), V, r"layer_dims must be"),
    "cost_and_grads rows given X": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, **{**COLUMNS, "layout": "rows"}),
        V,
        r"X.T must be \(m, n_x\) with n_x = n\[0\] = 4",
    ),
    # --- keys -------------------------------------------------------------------------------------------------
    "init_params no key": (lambda n: model.init_params(None, (2, 1)), T, r"key must be a PRNG key"),
    "init_params int key": (lambda n: model.init_params(0, (2, 1)), T, r"key must be a PRNG key"),
    "init_params float array key": (
        lambda n: model.init_params(jnp.zeros(2), (2, 1)),
        T,
        r"key must be a PRNG key .*float",
    ),
    "dropout_masks no key": (
        lambda n: model.dropout_masks(None, n.params, 5, keep_prob=0.5),
        T,
        r"key must be a PRNG key",
    ),
    "forward dropout int key": (
        lambda n: model.forward(n.params, n.X, keep_prob=0.5, key=3),
        T,
        r"key must be a PRNG key",
    ),
    # --- padding mask: values, orientation ------------------------------------------------------------------
    "cost mask with a 2": (
        lambda n: model.cost(n.params, n.X, n.Y, mask=jnp.array([[1.0, 1, 2, 1, 0]])),
        V,
        r"mask must hold only 0/1 values, got 2 among them",
    ),
    "cost mask transposed": (
        lambda n: model.cost(n.params, n.X, n.Y, mask=jnp.ones((5, 1))),
        V,
        r"mask must be \(1, m\) = \(1, 5\), got \(5, 1\): transposed",
    ),
    "cost mask 1-D": (
        lambda n: model.cost(n.params, n.X, n.Y, mask=jnp.ones(5)),
        V,
        r"mask must be \(1, m\) = \(1, 5\), got \(5,\)",
    ),
    "backward mask with -1": (
        lambda n: bw(n, mask=jnp.array([[1.0, 1, -1, 1, 0]])),
        V,
        r"mask must hold only 0/1 values, got -1",
    ),
    "backward mask transposed": (lambda n: bw(n, mask=jnp.ones((5, 1))), V, r"mask must be \(1, m\).*transposed"),
    "autodiff_grads mask 0.5": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, mask=jnp.full((1, 5), 0.5)),
        V,
        r"mask must hold only 0/1 values",
    ),
    "reduce mask wrong length": (
        lambda n: costs.reduce(jnp.ones((1, 5)), mask=jnp.ones((1, 4))),
        V,
        r"mask must be \(1, m\) = \(1, 5\)",
    ),
    "cost_and_grads rows mask (1, m)": (
        lambda n: fast.cost_and_grads(n.params, n.X.T, n.Y.T, mask=jnp.ones((1, 5)), **{**COLUMNS, "layout": "rows"}),
        V,
        r"mask must be \(m, 1\) = \(5, 1\), got \(1, 5\): transposed",
    ),
    "cost_and_grads columns mask with 3": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, mask=jnp.array([[1.0, 3, 1, 1, 1]]), **COLUMNS),
        V,
        r"mask must hold only 0/1",
    ),
    # --- NaN / Inf / label values ---------------------------------------------------------------------------
    "forward NaN X": (
        lambda n: model.forward(n.params, n.X.at[0, 0].set(jnp.nan)),
        V,
        r"X holds 1 non-finite value\(s\) \(NaN or Inf\)",
    ),
    "forward Inf W": (
        lambda n: model.forward(replace_layer(n.params, 1, W=n.params[0].W.at[1, 1].set(jnp.inf)), n.X),
        V,
        r"W\[1\] holds .*non-finite value",
    ),
    "forward NaN b": (
        lambda n: model.forward(replace_layer(n.params, 2, b=n.params[1].b.at[0, 0].set(jnp.nan)), n.X),
        V,
        r"b\[2\] holds .*non-finite value",
    ),
    "cost NaN Y": (lambda n: model.cost(n.params, n.X, n.Y.at[0, 0].set(jnp.nan)), V, r"Y holds .*non-finite value"),
    "cost labels outside [0, 1]": (
        lambda n: model.cost(n.params, n.X, 2 * n.Y),
        V,
        r"Y must lie in \[0, 1\] for output='sigmoid'",
    ),
    "cost softmax Y not one-hot": (
        lambda n: model.cost(n.params, n.X, jnp.ones((2, 5)), output="softmax"),
        V,
        r"Y must be one-hot",
    ),
    "cost softmax with one class": (
        lambda n: model.cost(
            (n.params[0], Layer(jnp.ones((1, 3)), jnp.ones((1, 1)))), n.X, jnp.ones((1, 5)), output="softmax"
        ),
        V,
        r"output='softmax' needs n_y >= 2",
    ),
    "backward NaN in caches": (
        lambda n: bw(n, caches=replace_cache(n.caches, 2, Z=n.caches[1].Z.at[0, 0].set(jnp.nan))),
        V,
        r"caches\[1\].Z \(Z\[2\]\) holds .*non-finite value",
    ),
    "backward NaN Y": (lambda n: bw(n, Y=n.Y.at[1, 1].set(jnp.nan)), V, r"Y holds .*non-finite value"),
    "loss_from_probabilities AL > 1": (
        lambda n: costs.loss_from_probabilities(n.AL + 1, n.Y, output="sigmoid"),
        V,
        r"AL must hold probabilities in \[0, 1\] for output='sigmoid'",
    ),
    "compute_cost AL negative": (
        lambda n: costs.compute_cost(-n.AL, n.Y),
        V,
        r"AL must hold probabilities in \[0, 1\]",
    ),
    "per_example_grads NaN X": (
        lambda n: model.per_example_grads(n.params, n.X.at[1, 2].set(jnp.inf), n.Y),
        V,
        r"X holds .*non-finite value",
    ),
    "predict NaN X": (lambda n: model.predict(n.params, n.X.at[1, 2].set(jnp.nan)), V, r"X holds .*non-finite value"),
    "cost_and_grads NaN X": (
        lambda n: fast.cost_and_grads(n.params, n.X.at[0, 0].set(jnp.nan), n.Y, **COLUMNS),
        V,
        r"X holds .*non-finite value",
    ),
    # --- caches that do not come from this forward ----------------------------------------------------------
    "backward caches from another hidden activation": (
        lambda n: bw(n, hidden="relu"),
        V,
        r"caches\[1\].A_prev \(A\[1\]\) is not g\(Z\) for hidden='relu'",
    ),
    "backward AL from another output": (
        lambda n: bw(n, output="identity"),
        V,
        r"AL is not g\(Z\) for output='identity'",
    ),
    "backward caches from other params": (
        lambda n: bw(n, params=replace_layer(n.params, 2, W=1.1 * n.params[1].W)),
        V,
        r"caches\[1\].Z is not Z\[2\] = W\[2\] A\[1\] \+ b\[2\] for these params",
    ),
    "backward caches from another X": (
        lambda n: bw(n, caches=replace_cache(n.caches, 1, A_prev=n.X + 1)),
        V,
        r"caches\[0\].Z is not Z\[1\] = W\[1\] A\[0\] \+ b\[1\]",
    ),
    "backward AL from another forward": (
        lambda n: bw(n, AL=n.AL[:, ::-1]),
        V,
        r"AL is not g\(Z\) for output='sigmoid'",
    ),
    "backward_from caches from another activation": (
        lambda n: backprop.backward_from(n.AL - n.Y, n.params, n.caches, hidden="sigmoid"),
        V,
        r"caches\[1\].A_prev \(A\[1\]\) is not g\(Z\) for hidden='sigmoid'",
    ),
    "backward output layer with a mask D": (
        lambda n: bw(n, caches=replace_cache(n.caches, 2, D=jnp.ones((2, 5)))),
        V,
        r"caches\[1\].D must be None: the output layer has no dropout",
    ),
    "backward D of the wrong shape": (
        lambda n: bw(n, caches=replace_cache(n.caches_drop, 1, D=jnp.ones((3, 4))), AL=n.AL_drop, keep_prob=0.5),
        V,
        r"caches\[0\].D must be D\[1\] \(n\[1\], m\) = \(3, 5\)",
    ),
    "backward keep_prob not the forward's": (
        lambda n: bw(n, caches=n.caches_drop, AL=n.AL_drop, keep_prob=0.8),
        V,
        r"caches\[1\].A_prev \(A\[1\]\) is not g\(Z\) for hidden='tanh' times D / keep_prob",
    ),
    "backward keep_prob < 1 without masks": (
        lambda n: bw(n, keep_prob=0.5),
        V,
        r"keep_prob = 0.5 but the caches hold no dropout masks",
    ),
    "backward D with a 2": (
        lambda n: bw(n, caches=replace_cache(n.caches_drop, 1, D=2 * n.D[0]), AL=n.AL_drop, keep_prob=0.5),
        V,
        r"caches\[0\].D must hold only 0/1 values, got 2",
    ),
    # --- m ---------------------------------------------------------------------------------------------------
    **{f"backward m = {m!r}": (lambda n, m=m: bw(n, m=m), e, p) for m, e, p in M_BAD},
    **{f"cost m = {m!r}": (lambda n, m=m: model.cost(n.params, n.X, n.Y, m=m), e, p) for m, e, p in M_BAD[:5]},
    "autodiff_grads m = 0": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, m=0),
        V,
        r"m must be an int in \[1, inf\)",
    ),
    "linear_backward m = 0": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev, n.params[1].W, m=0),
        V,
        r"m must be an int in \[1, inf\), got 0",
    ),
    "linear_backward m = 2.5": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev, n.params[1].W, m=2.5),
        V,
        r"m must be an int, got the float 2.5",
    ),
    "backward_from m = -1": (
        lambda n: backprop.backward_from(n.AL - n.Y, n.params, n.caches, hidden="tanh", m=-1),
        V,
        r"m must be an int in \[1, inf\)",
    ),
    "reduce m = True": (lambda n: costs.reduce(jnp.ones((1, 5)), m=True), V, r"m must be a number, got the bool True"),
    "cost_and_grads m = 0": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, m=0, **COLUMNS),
        V,
        r"m must be an int in \[1, inf\)",
    ),
    "cost_and_grads m = jnp 2.5": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, m=jnp.array(2.5), **COLUMNS),
        V,
        r"m must be an int in \[1, inf\), got 2.5",
    ),
    "dropout_masks m = 0": (
        lambda n: model.dropout_masks(n.key, n.params, 0, keep_prob=0.5),
        V,
        r"m must be an int in \[1, inf\)",
    ),
    # --- lambd and keep_prob ---------------------------------------------------------------------------------
    **{f"cost lambd = {v!r}": (lambda n, v=v: model.cost(n.params, n.X, n.Y, lambd=v), V, p) for v, p in LAMBD_BAD},
    "backward lambd = -1": (lambda n: bw(n, lambd=-1.0), V, r"lambd must be a finite number in \[0, inf\), got -1"),
    "backward_from lambd = nan": (
        lambda n: backprop.backward_from(n.AL - n.Y, n.params, n.caches, hidden="tanh", lambd=float("nan")),
        V,
        r"lambd must be a finite number",
    ),
    "autodiff_grads lambd = str": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, lambd="0.1"),
        T,
        r"lambd must be a number, got str",
    ),
    "cost_and_grads lambd = -0.5": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, lambd=-0.5, **COLUMNS),
        V,
        r"lambd must be",
    ),
    **{
        f"forward keep_prob = {v!r}": (
            lambda n, v=v: model.forward(n.params, n.X, keep_prob=v, masks=n.D),
            V,
            r"keep_prob must be a finite number in " + p,
        )
        for v, p in KEEP_BAD[:4]
    },
    "forward keep_prob = True": (lambda n: model.forward(n.params, n.X, keep_prob=True, masks=n.D), V, KEEP_BAD[4][1]),
    "backward keep_prob = 0": (
        lambda n: bw(n, keep_prob=0.0),
        V,
        r"keep_prob must be a finite number in \(0, 1\], got 0",
    ),
    "cost keep_prob = 2": (
        lambda n: model.cost(n.params, n.X, n.Y, keep_prob=2.0, masks=n.D),
        V,
        r"keep_prob must be .*got 2",
    ),
    "dropout_masks keep_prob = 0": (
        lambda n: model.dropout_masks(n.key, n.params, 5, keep_prob=0.0),
        V,
        r"keep_prob must be",
    ),
    "cost_and_grads keep_prob = 1.5": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, keep_prob=1.5, key=n.key, **COLUMNS),
        V,
        r"keep_prob must be",
    ),
    # --- dropout masks ---------------------------------------------------------------------------------------
    "forward keep_prob < 1 without masks": (
        lambda n: model.forward(n.params, n.X, keep_prob=0.5),
        V,
        r"keep_prob = 0.5 < 1 needs dropout masks",
    ),
    "cost masks and key": (
        lambda n: model.cost(n.params, n.X, n.Y, keep_prob=0.5, masks=n.D, key=n.key),
        V,
        r"not both",
    ),
    "forward masks count": (
        lambda n: model.forward(n.params, n.X, keep_prob=0.5, masks=n.D * 2),
        V,
        r"masks must hold one D\[l\] per hidden layer \(L - 1 = 1\), got 2",
    ),
    "forward masks not a tuple": (
        lambda n: model.forward(n.params, n.X, keep_prob=0.5, masks=n.D[0]),
        V,
        r"masks must hold one D\[l\]",
    ),
    "forward mask D[1] transposed": (
        lambda n: model.forward(n.params, n.X, keep_prob=0.5, masks=(n.D[0].T,)),
        V,
        r"D\[1\] must be \(n\[1\], m\) = \(3, 5\), got \(5, 3\)",
    ),
    "autodiff_grads mask D[1] values": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, keep_prob=0.5, masks=(0.5 * n.D[0],)),
        V,
        r"D\[1\] must hold only 0/1 values, got 0.5",
    ),
    "cost_and_grads keep_prob < 1 without key": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, keep_prob=0.5, **COLUMNS),
        V,
        r"keep_prob = 0.5 < 1 needs dropout masks",
    ),
    # --- found by tools/bad_calls.py (the generated sweep) ------------------------------------------------------
    "forward two keys": (
        lambda n: model.forward(n.params, n.X, keep_prob=0.5, key=jax.random.split(n.key, 2)),
        V,
        r"key must be one PRNG key, got a key array of shape \(2,\)",
    ),
    "init_params two keys": (
        lambda n: model.init_params(jax.random.split(n.key, 2), (2, 1)),
        V,
        r"key must be one PRNG key, got a key array of shape \(2,\)",
    ),
    "init_params dtype None": (
        lambda n: model.init_params(n.key, (2, 1), dtype=None),
        T,
        r"dtype must be a floating dtype, got None",
    ),
    "cost Y None": (lambda n: model.cost(n.params, n.X, None), T, r"Y must be an array, got NoneType"),
    "per_example_grads Y None": (
        lambda n: model.per_example_grads(n.params, n.X, None),
        T,
        r"Y must be an array, got NoneType",
    ),
    "cost reduction None": (
        lambda n: model.cost(n.params, n.X, n.Y, reduction=None),
        V,
        r"reduction must be one of 'mean', 'sum'; got None",
    ),
    "autodiff_grads reduction None": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, reduction=None),
        V,
        r"reduction" + CHOICE + "None",
    ),
    "cost m below the examples given": (
        lambda n: model.cost(n.params, n.X, n.Y, m=3),
        V,
        r"m must be at least the 5 real examples given .*, got 3",
    ),
    "autodiff_grads m below the mask's real columns": (
        lambda n: model.autodiff_grads(n.params, n.X, n.Y, m=3, mask=jnp.array([[1.0, 1, 1, 1, 0]])),
        V,
        r"m must be at least the 4 real examples given",
    ),
    "reduce m below the examples given": (
        lambda n: costs.reduce(jnp.ones((1, 5)), m=4),
        V,
        r"m must be at least the 5 real examples given",
    ),
    "cost_and_grads m below the examples given": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, m=2, **COLUMNS),
        V,
        r"m must be at least the 5 real examples given",
    ),
    "forward masks with keep_prob 1": (
        lambda n: model.forward(n.params, n.X, masks=n.D),
        V,
        r"masks drop units \(a D\[l\] holds zeros\) but keep_prob = 1",
    ),
    "cost masks with keep_prob 1": (
        lambda n: model.cost(n.params, n.X, n.Y, keep_prob=1.0, masks=n.D),
        V,
        r"masks drop units .* keep_prob = 1",
    ),
    "forward debug a string": (
        lambda n: model.forward(n.params, n.X, debug="yes"),
        V,
        r"debug must be True or False, got 'yes'",
    ),
    "loss_from_logits debug None": (
        lambda n: costs.loss_from_logits(n.AL, n.Y, output="sigmoid", debug=None),
        V,
        r"debug must be True or False, got None",
    ),
    "cost_and_grads debug a string": (
        lambda n: fast.cost_and_grads(n.params, n.X, n.Y, debug="no", **COLUMNS),
        V,
        r"debug must be True or False, got 'no'",
    ),
    "linear_forward NaN A_prev": (
        lambda n: model.linear_forward(n.X.at[0, 0].set(jnp.nan), n.params[0].W, n.params[0].b),
        V,
        r"A_prev holds 1 non-finite value\(s\) \(NaN or Inf\)",
    ),
    "linear_forward Inf b": (
        lambda n: model.linear_forward(n.X, n.params[0].W, n.params[0].b.at[1, 0].set(jnp.inf)),
        V,
        r"b holds 1 non-finite value",
    ),
    "loss_from_logits NaN ZL": (
        lambda n: costs.loss_from_logits(n.caches[1].Z.at[0, 0].set(jnp.nan), n.Y, output="sigmoid"),
        V,
        r"ZL holds 1 non-finite value",
    ),
    "loss_from_probabilities Inf AL, identity output": (
        lambda n: costs.loss_from_probabilities(n.AL.at[0, 0].set(jnp.inf), n.Y, output="identity"),
        V,
        r"AL holds 1 non-finite value",
    ),
    "pmean_of_means_grads an empty shard": (
        lambda n: parallel.pmean_of_means_grads(n.params, n.X, n.Y, counts=(5, 0, 0, 0)),
        V,
        r"counts must all be >= 1 here .*, got \(5, 0, 0, 0\)",
    ),
    "pmean_of_means_grads fewer examples than devices": (
        lambda n: parallel.pmean_of_means_grads(n.params, n.X[:, :3], n.Y[:, :3]),
        V,
        r"counts must all be >= 1 here .*: m = 3 examples over 4 devices",
    ),
    "pmean_error counts None": (
        lambda n: parallel.pmean_error([n.params] * 2, None),
        V,
        r"counts must be a sequence of D non-negative ints",
    ),
    "pmean_error counts a string": (
        lambda n: parallel.pmean_error([n.params] * 2, "11"),
        V,
        r"counts must be a sequence of D non-negative ints",
    ),
    "pmean_error local_means None": (
        lambda n: parallel.pmean_error(None, (1, 1)),
        V,
        r"local_means must be a sequence of D grads trees",
    ),
    "pmean_error local_means of other shapes": (
        lambda n: parallel.pmean_error([n.params, replace_layer(n.params, 2, W=n.params[1].W.T)], (1, 1)),
        V,
        r"local_means\[1\] must be a grads tree like local_means\[0\]",
    ),
    "pmean_error NaN in local_means": (
        lambda n: parallel.pmean_error([n.params, replace_layer(n.params, 1, b=n.params[0].b * jnp.nan)], (1, 1)),
        V,
        r"local_means\[1\] holds 3 non-finite value",
    ),
    "sweep integer keys": (
        lambda n: parallel.sweep(jnp.arange(2), n.X, n.Y, layer_dims=(4, 3, 2), learning_rates=jnp.ones(2)),
        V,
        r"keys must be \(S,\) PRNG keys",
    ),
    "sweep NaN X": (
        lambda n: parallel.sweep(jax.random.split(n.key, 2), n.X.at[0, 0].set(jnp.nan), n.Y, layer_dims=(4, 3, 2),
                                 learning_rates=jnp.ones(2)),
        V,
        r"X holds 1 non-finite value",
    ),
    # found by tools/bad_calls.py in backprop: a global m below the examples given, non-bool flags, NaN inputs
    "backward m below the examples": (lambda n: bw(n, m=3), V,
                                      r"m must be at least the 5 real examples given .*, got 3"),
    "backward intermediates a string": (lambda n: bw(n, intermediates="yes"), V,
                                        r"intermediates must be True or False, got 'yes'"),
    "backward debug a string": (lambda n: bw(n, debug="yes"), V, r"debug must be True or False, got 'yes'"),
    "backward_from m below the examples": (
        lambda n: backprop.backward_from(n.AL - n.Y, n.params, n.caches, hidden="tanh", m=3), V,
        r"m must be at least the 5 real examples given .*, got 3"),
    "backward_from dZL NaN": (
        lambda n: backprop.backward_from((n.AL - n.Y).at[0, 0].set(jnp.nan), n.params, n.caches, hidden="tanh"), V,
        r"dZL holds 1 non-finite value"),
    "linear_backward m below the examples": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev, n.params[1].W, m=2), V,
        r"m must be at least the 5 real examples given .*, got 2"),
    "linear_backward A_prev Inf": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev.at[1, 2].set(jnp.inf), n.params[1].W), V,
        r"A_prev holds 1 non-finite value"),
    "linear_backward debug a string": (
        lambda n: backprop.linear_backward(n.caches[1].Z, n.caches[1].A_prev, n.params[1].W, debug="yes"), V,
        r"debug must be True or False"),
    "activation_backward Z NaN": (
        lambda n: backprop.activation_backward(n.caches[0].Z, n.caches[0].Z.at[0, 0].set(jnp.nan), activation="tanh"),
        V, r"Z holds 1 non-finite value"),
}


@pytest.fixture(scope="module")
def n():
    return tiny()


def test_catalogue_covers_every_exported_function():
    names = " ".join(CASES)
    exported = {
        "forward",
        "cost",
        "autodiff_grads",
        "per_example_grads",
        "predict",
        "init_params",
        "linear_forward",
        "dropout_masks",
        "backward",
        "backward_from",
        "linear_backward",
        "activation_backward",
        "output_dAL",
        "output_dZL",
        "reduction_for",
        "g",
        "g_prime",
        "loss_from_logits",
        "loss_from_probabilities",
        "reduce",
        "compute_cost",
        "cost_and_grads",
    }
    assert {f for f in exported if f"{f} " in names + " "} == exported
    assert len(CASES) >= 150, len(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_call_raises_naming_the_argument(n, case):
    call, error, pattern = CASES[case]
    with pytest.raises(error, match=pattern) as info:
        call(n)
    assert type(info.value) is error  # exactly, e.g. not a checkify error or a KeyError posing as one


def test_values_in_caches_are_used_as_given(n):
    # not a bad call: the tiny net's own caches pass every check, with and without dropout
    bw(n)
    bw(n, caches=n.caches_drop, AL=n.AL_drop, keep_prob=0.5)
    assert isinstance(n.caches_drop[0], Cache) and n.caches_drop[1].D is None
    assert shapes.count("m", 5) == 5


def test_init_params_takes_numpy_int_dims(n):
    # found by tools/bad_calls.py: a layer_dims read from NumPy (np.int64) was refused; sweep already took them
    dims = tuple(np.array([4, 3, 2]))
    for got, want in zip(model.init_params(n.key, dims), model.init_params(n.key, (4, 3, 2)), strict=True):
        np.testing.assert_array_equal(got.W, want.W)
