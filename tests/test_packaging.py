"""What the wheel ships: every package, and experiments that import each other relatively.

The wheel installs the repository's experiments/ as the package jaxbp_experiments (pyproject's
package-dir), so an experiment that imported `experiments.x` by that name would work here and
break there. .ci/run builds the wheel and runs the commands from a venv outside the checkout.
"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder_of = {name: folder for name, folder in setuptools.get("package-dir", {}).items()}
    assert folder_of == {"jaxbp_experiments": "experiments"}
    name_of = {folder: name for name, folder in folder_of.items()}
    found = set()
    for init in [*ROOT.glob("jaxbp/**/__init__.py"), *ROOT.glob("experiments/**/__init__.py")]:
        top, *rest = init.parent.relative_to(ROOT).parts
        found.add(".".join([name_of.get(top, top), *rest]))
    assert found == set(setuptools["packages"]), "a package folder is missing from pyproject.toml's packages"


def test_experiments_import_each_other_relatively():
    for path in sorted((ROOT / "experiments").glob("*.py")):
        absolute = re.findall(r"^\s*(?:from|import) experiments\b.*$", path.read_text(), flags=re.M)
        assert not absolute, f"{path.name}: {absolute[0].strip()} (write `from . import ...`; the wheel renames it)"


def test_floor_script_pins_the_lower_bounds_of_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {d.split(">=")[0]: d.split(">=")[1] for d in deps}
    pins = dict(p.split("==") for p in re.search(r'FLOOR="([^"]+)"', (ROOT / ".ci/floor").read_text())[1].split())
    assert {name: pins[name] for name in floors} == floors
    assert pins["jaxlib"] == pins["jax"]
    assert "python3.11" in (ROOT / ".ci/floor").read_text()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11"
