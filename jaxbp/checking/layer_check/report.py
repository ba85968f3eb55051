"""The LayerReport check_layer returns: one row per output, printed as a table for people.

Graders read its fields: report.ok, report.wrong, report["dA_prev"].kind / .factor / .rel_error /
.bound_ratio / .message / .case, and report["dA_prev"].cases (the verdict in every case).
"""

from dataclasses import dataclass

import numpy as np

from jaxbp.checking.report import Rendered


@dataclass(frozen=True)
class CaseResult:
    """One output in one case."""

    case: str  # the case's label: "stride=2 pad=0 f=3"
    kind: str
    rel_error: float  # Ng's ||u - r|| / (||u|| + ||r||); nan when the shapes differ or u is missing
    bound_ratio: float | None  # ||u - r|| / the rounding bound (<= 1: ok); None when not comparable
    factor: float | None
    message: str


@dataclass(frozen=True)
class LayerRow:
    """One output's verdict over every case: machine fields for graders, message for learners."""

    name: str  # the course's name: "dA_prev", "dWf", "dgamma"; forward outputs "Z", "a_next", ...
    stage: str  # "forward" or "backward"
    kind: str  # one of kinds.KINDS
    rel_error: float  # in `case` (nan when not comparable there)
    bound_ratio: float | None  # in `case`: the worst over the cases when ok
    factor: float | None  # u = factor * r for the factor kinds (snapped or fitted), else None
    message: str
    case: str  # the case the numbers, kind and message come from: the worst when ok, else the first wrong one
    cases: tuple  # of CaseResult, in the report's case order

    @property
    def ok(self):
        return self.kind == "ok"

    @property
    def verdict(self):
        return "ok" if self.ok else "WRONG"


@dataclass(frozen=True)
class LayerReport(Rendered):
    """The result of check_layer."""

    layer: str  # "conv", "pool", "pool_max", ..., "batchnorm_alt"
    backward: str  # the learner's function names
    forward: str | None  # None: jaxbp.layers built the course's cache
    rows: tuple  # of LayerRow: forward outputs first, then the backward's in the course's order
    cases: tuple  # the case labels
    dtype: str  # the inputs' dtype
    precision: str  # the precision judged in (jaxbp.checking.compare)
    seed: int
    notes: tuple = ()

    def _table(self):
        head = ["name", "case", "rel error", "÷ bound", "verdict", "kind", "diagnosis"]
        body = []
        for r in self.rows:
            rel = "n/a" if np.isnan(r.rel_error) else f"{r.rel_error:.1e}"
            ratio = "n/a" if r.bound_ratio is None else f"{r.bound_ratio:.1g}"
            name = r.name + (" (forward)" if r.stage == "forward" else "")
            body.append([name, r.case if len(self.cases) > 1 else "", rel, ratio, r.verdict, r.kind, r.message])
        return head, body

    def _lines(self):
        cache = f"forward {self.forward} (yours)" if self.forward else "cache from jaxbp.layers (the course's format)"
        n_wrong = len(self.wrong)
        result = (f"OK: all {len(self.rows)} outputs match in every case" if self.ok else
                  f"WRONG: {n_wrong} of {len(self.rows)} outputs")
        header = [f"jaxbp check_layer  layer={self.layer}  backward {self.backward}  {cache}  dtype={self.dtype}  "
                  f"seed={self.seed}",
                  f"cases: {'; '.join(self.cases)}",
                  f"reference: jax.vjp of jaxbp.layers' forward in float64 with the same upstream gradient; judged in "
                  f"{self.precision}: ok when ‖u − r‖ is within the rounding bound GROWTH u_p ‖M‖ of a correct "
                  "computation (÷ bound ≤ 1), M = the backward evaluated on absolute values"]
        footer = [f"note: {n}" for n in self.notes] + [f"result: {result}"]
        return header, footer
