"""Every code block of README.md runs, so no example can rot. Which blocks run is said by the fence's tag:

    ```python                 runs; all such blocks run in order in one fresh process (a session: a block may
                              use names an earlier one defined), in a temporary folder
    ```python file=NAME.py    also written to NAME.py in that folder (for the commands of a later console block)
    ```python norun           shown, not run: a signature listing, or code that needs several hosts
    ```console                lines "$ COMMAND" are run in that folder; the lines after each, its output, must
                              match what it prints, up to the digits of numbers in scientific notation
    ```bash                   every line runs in that folder, except install and test commands (pip install,
                              python -m pytest, .ci/run), which CI runs itself
    ```bash norun             shown, not run: runs that take minutes (jaxbp report, jaxbp bench) or repeat
                              what the tests run; .ci/run's wheel smoke test runs the quick form of each
                              (jaxbp report --quick runs every experiment)
Any other fence (```text, or none) is output shown as is and never run.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INSTALL_OR_TEST = re.compile(r"^(pip |python -m pip |python -m pytest|\.ci/run)")


def blocks(text):
    """(line number, info words, code) of every fenced block."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("```"):
            info, start, body = lines[i][3:].split(), i + 1, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((start, info, "\n".join(body) + "\n"))
        i += 1
    return out


def options(info):
    return dict(word.split("=", 1) for word in info[1:] if "=" in word)


def env():
    """This checkout first on the import path, and this interpreter's scripts (jaxbp) first on PATH."""
    def first(path, rest):
        return os.pathsep.join(filter(None, (path, rest)))
    return {**os.environ, "PYTHONPATH": first(str(ROOT), os.environ.get("PYTHONPATH")),
            "PATH": first(str(Path(sys.executable).parent), os.environ.get("PATH"))}


_SESSION = """
import sys
namespace = {"__name__": "__main__"}
for line, source in BLOCKS:
    print(f"--- README.md block at line {line}", flush=True)
    exec(compile(source, f"README.md (the block at line {line})", "exec"), namespace)
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A temporary folder holding the files the README names (```python file=NAME)."""
    where = tmp_path_factory.mktemp("readme")
    for _, info, code in blocks(README.read_text()):
        if info[:1] == ["python"] and "file" in options(info):
            (where / options(info)["file"]).write_text(code)
    return where


def test_every_fence_is_tagged_by_the_scheme():
    known = {("python",), ("python", "norun"), ("console",), ("bash",), ("bash", "norun"), ("text",), ()}
    for line, info, _ in blocks(README.read_text()):
        words = tuple(w for w in info if "=" not in w)
        assert words in known, f"README.md:{line}: fence ```{' '.join(info)} is not in tests/test_readme.py's scheme"


def test_python_blocks_run_in_order(folder):
    runnable = [(line, code) for line, info, code in blocks(README.read_text())
                if info[:1] == ["python"] and "norun" not in info]
    assert runnable
    script = f"BLOCKS = {runnable!r}\n" + _SESSION
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def normalised(text):
    """Output with the digits of scientific-notation numbers replaced, trailing blanks dropped."""
    text = re.sub(r"-?\d\.\d+e[+-]\d+", "#e#", text)
    return [line.rstrip() for line in text.strip().splitlines()]


def test_console_transcripts_print_what_the_readme_shows(folder):
    transcripts = [(line, code) for line, info, code in blocks(README.read_text()) if info == ["console"]]
    assert transcripts
    for line, code in transcripts:
        for command, shown in re.findall(r"^\$ (.+)\n((?:(?!\$ ).*\n)*)", code, flags=re.M):
            argv = shlex.split(command)
            assert argv[0] == "jaxbp", f"README.md:{line}: console commands are jaxbp commands"
            done = subprocess.run([sys.executable, "-m", "jaxbp.cli", *argv[1:]], cwd=folder, env=env(),
                                  capture_output=True, text=True, timeout=600)
            assert normalised(done.stdout) == normalised(shown), f"README.md:{line}: $ {command}\n{done.stderr}"


def test_bash_commands_run(folder):
    for line, info, code in blocks(README.read_text()):
        if info != ["bash"]:
            continue
        for command in code.splitlines():
            command = command.split("#", 1)[0].strip()
            if not command or INSTALL_OR_TEST.match(command):
                continue
            done = subprocess.run(command, shell=True, cwd=folder, env=env(), capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, f"README.md:{line}: {command}\n{done.stderr[-3000:]}"
