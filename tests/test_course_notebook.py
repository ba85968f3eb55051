"""jaxbp.course.notebook: a learner's .ipynb read for its imports and definitions only, then checked as a .py.

Oracle: tests/course_gallery/gradient_checking.ipynb, a trimmed copy of the C2W1 notebook whose cells hold
what real ones do (IPython magics, a shell line, `np.dot?`, a %%time cell, globals set in one cell and used in
another, helper modules that are not beside it).
"""

import json
import os
import shutil

import jaxbp
from jaxbp import cli
from jaxbp.course import notebook

NB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "course_gallery", "gradient_checking.ipynb")


def test_notebook_runs_only_imports_that_definitions_use_and_no_other_cell():
    module, notes = notebook.load_notebook(NB)
    assert callable(module.forward_propagation_n) and callable(module.backward_propagation_n)
    assert "plt" not in vars(module)  # matplotlib is imported in the notebook but no definition uses it
    assert "X" not in vars(module) and "gradients" not in vars(module)  # assignments and calls are not run
    assert notes == []  # magics, !pip and np.dot? are blanked, the %%time cell skipped: every cell parses
    assert module.__jaxbp_standins__ == ["gc_utils", "public_tests", "testCases"]
    assert module.__jaxbp_globals__["m"] == (3, 2, "m = X.shape[1]")


def test_notebook_functions_check_as_from_python():
    module, _ = notebook.load_notebook(NB)
    report = jaxbp.check(module.forward_propagation_n, module.backward_propagation_n)
    assert report.ok and len(report.rows) == 13


def test_notebook_check_from_the_command_line_says_which_helpers_stood_in(capsys):
    assert cli.main(["check", f"{NB}:backward_propagation_n", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "notebook: " in out and "imports and definitions only, no cell run" in out
    assert "helpers: gc_utils, public_tests, testCases not found beside" in out and "result: OK" in out


def test_notebook_helper_beside_it_is_used(tmp_path, capsys):
    shutil.copy(NB, tmp_path / "nb.ipynb")
    (tmp_path / "gc_utils.py").write_text("import numpy as np\n\n\ndef sigmoid(x):\n"
                                          "    return 1 / (1 + np.exp(-x))\n\n\n"
                                          "def relu(x):\n    return x * (x > 0)\n\n\n"
                                          "dictionary_to_vector = vector_to_dictionary = gradients_to_vector = None\n")
    assert cli.main(["check", f"{tmp_path / 'nb.ipynb'}:forward_propagation_n,backward_propagation_n",
                     "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "helpers: public_tests, testCases not found" in out and "gc_utils" not in out.split("helpers:")[1].split(
        "\n")[0].split("not found")[0]


def test_notebook_global_from_another_cell_is_named_when_it_raises(capsys):
    assert cli.main(["check", f"{NB}:backward_propagation_n_global", "--assignment", "backward_propagation_n",
                     "--no-cache"]) == 3
    err = capsys.readouterr().err
    assert "NameError: name 'm' is not defined" in err and "[cell 7]\", line 7, in backward_propagation_n_global" in err
    assert "return {\"dW3\": np.dot(dZ3, A2.T) / m" in err  # the notebook's own line, from its cell
    assert "m is a global set in cell 3" in err


def test_notebook_cell_that_does_not_parse_is_a_note(tmp_path):
    with open(NB) as f:
        nb = json.load(f)
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": ["def broken(:\n", "    pass\n"]})
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    _, notes = notebook.load_notebook(str(tmp_path / "nb.ipynb"))
    assert len(notes) == 1 and notes[0].startswith(f"cell {len(nb['cells'])} does not parse")
