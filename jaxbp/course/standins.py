"""Load a learner's .py file, with the course's helper modules found beside it or stood in for by jaxbp.

    with course_imports(folder) as used:   `import dnn_utils` (testCases, planar_utils, reg_utils,
        ...                                gc_utils, ...) finds folder/dnn_utils.py first; only when no
                                           such module exists anywhere does jaxbp's stand-in (helpers.py,
                                           the course's own definitions) answer, and its name goes in `used`.
The stand-in's other names (load_planar_dataset, plot_decision_boundary, the test cases) import
fine and raise a clear error only when called. Everything is undone on exit: sys.path, the
import hook, the stand-ins and the modules imported from `folder` (another check, from another
folder, gets its own dnn_utils).
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import types

from jaxbp.course import helpers

_DNN = {"sigmoid": helpers.sigmoid, "relu": helpers.relu, "sigmoid_backward": helpers.sigmoid_backward,
        "relu_backward": helpers.relu_backward}
_VALUE = {"sigmoid": helpers.sigmoid_value, "relu": helpers.relu_value}
FAMILIES = (
    (r"dnn_utils(_v\d+)?", _DNN),
    (r"dnn_app_utils(_v\d+)?", {**_DNN, "L_model_forward": helpers.L_model_forward,
                                "compute_cost": helpers.compute_cost}),
    (r"planar_utils|init_utils|opt_utils(_v\d+a?)?", _VALUE),
    (r"reg_utils", {**_VALUE, "compute_cost": helpers.compute_cost, "forward_propagation": helpers.three_layer_forward,
                    "backward_propagation": helpers.reg_backward_propagation}),
    (r"gc_utils", {**_VALUE, "dictionary_to_vector": helpers.dictionary_to_vector,
                   "vector_to_dictionary": helpers.vector_to_dictionary,
                   "gradients_to_vector": helpers.gradients_to_vector}),
    (r"testCases(_v\d+a?)?|testCase|public_tests|test_utils|lr_utils", {}),
)
HELPER_NAMES = frozenset(n for _, names in FAMILIES for n in names)


def standin_names(module_name):
    """The stand-in's {name: function} for a course helper module's name, or None for any other module."""
    for pattern, names in FAMILIES:
        if re.fullmatch(pattern, module_name):
            return names
    return None


def _placeholder(module_name, name):
    def missing(*args, **kwargs):
        raise NotImplementedError(f"{name} comes from the course's {module_name}.py, which jaxbp could not find "
                                  f"(jaxbp's stand-in only has {', '.join(standin_names(module_name)) or 'nothing'}): "
                                  f"put {module_name}.py beside your file")

    missing.__name__ = name
    return missing


class _Loader(importlib.abc.Loader):
    def __init__(self, names):
        self.names = names

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__dict__.update(self.names)
        module.__all__ = sorted(self.names)
        module.__jaxbp_standin__ = True

        def __getattr__(name):  # noqa: N807 (module-level __getattr__)
            if name.startswith("__"):
                raise AttributeError(name)
            return _placeholder(module.__name__, name)

        module.__getattr__ = __getattr__


class _Finder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: answers only for course helper modules nothing else found."""

    def __init__(self):
        self.used = []

    def find_spec(self, fullname, path, target=None):
        names = standin_names(fullname) if path is None else None
        if names is None:
            return None
        self.used.append(fullname)
        return importlib.util.spec_from_loader(fullname, _Loader(names))


@contextlib.contextmanager
def course_imports(folder):
    """Imports see `folder` first and jaxbp's stand-ins last; yields the list of stand-ins used."""
    finder = _Finder()
    folder = os.path.abspath(folder)
    hidden = {n: sys.modules.pop(n) for n in list(sys.modules) if standin_names(n) is not None}  # another folder's
    before = set(sys.modules)
    sys.path.insert(0, folder)
    sys.meta_path.append(finder)
    try:
        yield finder.used
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(folder)
        for name in set(sys.modules) - before:  # this folder's modules and the stand-ins: loaded afresh next time
            file = getattr(sys.modules[name], "__file__", None) or ""
            if name in finder.used or os.path.abspath(file).startswith(folder + os.sep):
                del sys.modules[name]
        sys.modules.update({n: m for n, m in hidden.items() if n not in sys.modules})


def standin_note(used, where):
    """The sentence a report prints when stand-ins were used, or None."""
    if not used:
        return None
    have = "; ".join(f"{n}: {', '.join(sorted(standin_names(n))) or 'no functions'}" for n in dict.fromkeys(used))
    return (f"helpers: {', '.join(dict.fromkeys(used))} not found beside {where}: jaxbp's stand-ins, "
            f"the course's definitions, were used ({have})")


def load_source(path):
    """(module, stand-ins used) from a learner's .py file; the learner's exceptions propagate."""
    name = "learner_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with course_imports(os.path.dirname(os.path.abspath(path))) as used:
        spec.loader.exec_module(module)
    return module, list(used)


def new_module(name, path):
    """An empty module for a notebook's definitions, its __file__ the notebook."""
    module = types.ModuleType(name)
    module.__file__ = path
    return module
