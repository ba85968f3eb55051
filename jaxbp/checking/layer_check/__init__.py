"""Check a learner's layer backward (conv, pool, RNN, LSTM, batch norm) against jax.vjp in float64; name the mistake.

    check_layer(backward, forward=None, *, layer=None, seed=0, dtype="float64") -> LayerReport
    check_layer_target(module, names, *, layer=None, seed=0, dtype="float64") -> (exit_code, text)

Modules, in import order: problems (the course's inputs, fixed shapes per layer kind), exact (jax.vjp
of jaxbp.layers' forward in float64, jitted once per layer kind; the course's caches), loops and
recurrent (the course's backwards in NumPy, with a piece swappable or on absolute values), kinds
(KINDS, shapes, constants), candidates (the mistakes, computed), magnitudes (M of the bound), raised
and learner (signatures, calls, reading outputs; the learner's frames and hints), report
(LayerReport), verdicts (precision, kinds per case, rows), check (check_layer, check_layer_target).
"""

from jaxbp.checking.layer_check.check import check_layer, check_layer_target, recognise
from jaxbp.checking.layer_check.kinds import KINDS
from jaxbp.checking.layer_check.learner import LayerCodeError
from jaxbp.checking.layer_check.problems import LAYERS
from jaxbp.checking.layer_check.report import CaseResult, LayerReport, LayerRow

__all__ = ["KINDS", "LAYERS", "CaseResult", "LayerCodeError", "LayerReport", "LayerRow", "check_layer",
           "check_layer_target", "recognise"]
