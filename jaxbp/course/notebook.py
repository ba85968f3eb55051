"""Read a learner's Jupyter notebook: its imports and its function and class definitions, nothing else.

    load_notebook("Gradient Checking.ipynb") -> (module, notes)
No cell is executed. Each code cell is parsed with ast (IPython's %magic and !shell lines become
blank lines, %%cell magics skip the cell), and only its top-level import, def and class statements
are compiled, as "<path> [cell N]" so that tracebacks point into the notebook and show its lines.
An import runs only when a definition uses a name it binds (or it is a star import), so a
notebook's matplotlib or h5py is never imported for a check; the course's helper modules are found
beside the notebook or stood in for (standins.py). module.__jaxbp_globals__ maps each name the
notebook assigns at top level (which jaxbp does not run) to (cell, line, source line), for the hint
when a function used such a global.
"""

import ast
import json
import linecache
import os
import re

from jaxbp.course import standins

KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def code_cells(path):
    """[(cell number counting every cell from 1, source)] of the notebook's code cells."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    cells = nb.get("cells") or (nb.get("worksheets") or [{}])[0].get("cells", [])
    out = []
    for n, cell in enumerate(cells, start=1):
        if cell.get("cell_type") == "code":
            src = cell.get("source", cell.get("input", ""))
            out.append((n, "".join(src) if isinstance(src, list) else str(src)))
    return out


def _clean(source):
    """The cell's source with IPython-only lines blanked (line numbers kept), or None for a %%cell magic."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return None
    return "\n".join("" if re.match(r"\s*[%!]|\s*[\w.]+\?\??\s*$", line) else line for line in lines) + "\n"


def _bound(node):
    """The names an import statement binds."""
    if isinstance(node, ast.Import):
        return {(a.asname or a.name.split(".")[0]) for a in node.names}
    return {a.asname or a.name for a in node.names}


def _used(defs):
    """Every name the definitions read."""
    return {n.id for d in defs for n in ast.walk(d) if isinstance(n, ast.Name)}


def load_notebook(path):
    """(module, notes): the notebook's imports and definitions, compiled and run in a fresh module."""
    parsed, notes, assigned = [], [], {}
    for n, source in code_cells(path):
        clean = _clean(source)
        filename = f"{path} [cell {n}]"
        if clean is None:
            continue
        try:
            tree = ast.parse(clean, filename=filename)
        except SyntaxError as err:
            notes.append(f"cell {n} does not parse ({err.msg}, line {err.lineno}); skipped")
            continue
        linecache.cache[filename] = (len(source), None, [line + "\n" for line in source.splitlines()], filename)
        parsed.append((n, filename, [node for node in tree.body if isinstance(node, KEPT)]))
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                for t in filter(None, targets):
                    for name in (x.id for x in ast.walk(t) if isinstance(x, ast.Name)):
                        assigned.setdefault(name, (n, node.lineno, source.splitlines()[node.lineno - 1].strip()))
    defs = [node for _, _, nodes in parsed for node in nodes if not isinstance(node, (ast.Import, ast.ImportFrom))]
    used = _used(defs)
    module = standins.new_module("learner_" + re.sub(r"\W", "_", os.path.basename(path).rsplit(".", 1)[0]), path)
    module.__jaxbp_globals__ = {k: v for k, v in assigned.items() if k not in {d.name for d in defs}}
    with standins.course_imports(os.path.dirname(os.path.abspath(path))) as stood_in:
        for n, filename, nodes in parsed:
            for node in nodes:
                is_import = isinstance(node, (ast.Import, ast.ImportFrom))
                star = is_import and any(a.name == "*" for a in node.names)
                if is_import and (node.module == "__future__" if isinstance(node, ast.ImportFrom) else False):
                    continue
                if is_import and not star and not (_bound(node) & used):
                    continue
                code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec")
                try:
                    exec(code, module.__dict__)  # noqa: S102 (the learner's own imports and definitions)
                except Exception as err:  # an import a definition needs is missing: the call will say so
                    notes.append(f"cell {n}, line {node.lineno}: {type(err).__name__}: {err}; skipped")
        module.__jaxbp_standins__ = list(stood_in)
    return module, notes
