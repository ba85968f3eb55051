"""The Report that jaxbp.check returns: rows per parameter, printed as a table for people.

A Report prints as a plain-text table (terminals), Markdown and HTML (notebooks); graders read
its fields: report.ok, report.wrong, report["dW2"].kind / .factor / .rel_error / .message.
"""

import html
from dataclasses import dataclass

import numpy as np

from jaxbp.checking import diagnose


class Rendered:
    """Text, Markdown and HTML of a report from its _table() -> (head, body) and _lines() -> (header, footer);
    shared by Report and the layer checker's LayerReport; both hold rows with .name and .ok."""

    @property
    def ok(self):
        return all(r.ok for r in self.rows)

    @property
    def wrong(self):
        return tuple(r for r in self.rows if not r.ok)

    def __getitem__(self, name):
        """The Row called name ("dW2")."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows are {', '.join(r.name for r in self.rows)}")

    def __str__(self):
        head, body = self._table()
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
        fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
        header, footer = self._lines()
        return "\n".join([*header, "", fmt(head), *map(fmt, body), "", *footer])

    def _repr_markdown_(self):
        head, body = self._table()
        header, footer = self._lines()
        row = lambda cells: "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"  # noqa: E731
        return "\n".join([*(f"{h}  " for h in header), "", row(head), row(["---"] * len(head)), *map(row, body), "",
                          *(f"{f}  " for f in footer)])

    def _repr_html_(self):
        head, body = self._table()
        header, footer = self._lines()
        esc = html.escape
        cell = lambda tag, cells: "<tr>" + "".join(f"<{tag}>{esc(c)}</{tag}>" for c in cells) + "</tr>"  # noqa: E731
        return ("".join(f"<p>{esc(h)}</p>" for h in header) + "<table>" + cell("th", head)
                + "".join(cell("td", b) for b in body) + "</table>" + "".join(f"<p>{esc(f)}</p>" for f in footer))


@dataclass(frozen=True)
class Report(Rendered):
    """The result of check: rows per parameter, the precision judged in, where the divergence starts."""

    rows: tuple  # of Row, in the order dW1, db1, ..., dWL, dbL
    dtype: str  # the least precise dtype among the user's gradients and the inputs
    precision: str  # the precision the comparison judged in (jaxbp.checking.compare): dtype's, or coarser by evidence
    placement: str
    hidden: str
    output: str
    layer_dims: tuple
    m: int
    first_divergent_layer: int | None  # counting from L down; None when nothing diverges
    first_divergent: str | None  # the quantity there: "dZ2", "dA1", "dW2", ...
    notes: tuple = ()
    fd: bool = False
    context: tuple = ()  # what was called and how its output was read (assignment, call, dA keys, stand-ins)

    def _table(self):
        head = ["name", "rel error", "÷ bound", "verdict", "kind", "factor", "diagnosis"]
        head += ["fd rel error", "kinks"] if self.fd else []
        body = []
        for r in self.rows:
            factor = "" if r.factor is None else (diagnose.snap(r.factor, self.m)[1] or f"{r.factor:.4g}")
            ratio = "n/a" if r.bound_ratio is None else f"{r.bound_ratio:.1g}"
            cells = [r.name, "n/a" if np.isnan(r.rel_error) else f"{r.rel_error:.1e}", ratio, r.verdict, r.kind, factor,
                     r.message]
            if self.fd:
                cells += ["n/a" if np.isnan(r.fd_rel_error) else f"{r.fd_rel_error:.1e}", str(r.kinks)]
            body.append(cells)
        return head, body

    def _lines(self):
        reduction = "sum" if self.placement == "sum" else "mean over m"
        where = ("nothing diverges" if self.first_divergent_layer is None else
                 f"first divergence at layer {self.first_divergent_layer} ({self.first_divergent}), "
                 f"counting from L = {len(self.layer_dims) - 1} down")
        n_wrong = len(self.wrong)
        noun = "gradients" if all(r.name.startswith("d") for r in self.rows) else "values"  # a forward's too
        every = "the" if len(self.rows) == 1 else f"all {len(self.rows)}"
        result = f"OK: {every} {noun} match" if self.ok else f"WRONG: {n_wrong} of {len(self.rows)} {noun}"
        header = [f"jaxbp.check  hidden={self.hidden}  output={self.output}  layer_dims={self.layer_dims}  "
                  f"m={self.m}  placement={self.placement!r}",
                  f"reference: jax.grad of J ({reduction}) in float64; judged in {self.precision} ({self.dtype} "
                  "in and out): ok when ‖u − r‖ is within the rounding bound of a correct computation of this problem "
                  "(÷ bound ≤ 1)"]
        header += list(self.context)
        footer = ([f"where: {where}"] if self.first_divergent_layer is not None else []) + \
            [f"note: {n}" for n in self.notes] + [f"result: {result}"]
        return header, footer
