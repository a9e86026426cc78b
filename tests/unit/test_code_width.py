"""The notebooks' code fits the HTML column: ruff-formatted to pyproject.toml's line length, no line longer.

The browser test (tests/browser/test_pages.py) checks the other half, that a line of that length does not scroll
at a 1,280-px window. Format a notebook with ``.venv/bin/ruff format book/NN_x.ipynb`` (or ``make format``), then
shorten by hand what ruff leaves long: comments and strings.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
# Code in the prose (solutions, commands) sits in an exercise or solution box, which shows 70 characters at 1,280 px.
FENCE_WIDTH = 70


def _ruff() -> str:
    ruff = Path(sys.executable).parent / "ruff"
    found = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if not found:
        pytest.fail("ruff is missing: pip install -r requirements.txt")
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_ruff(), *args], cwd=ROOT, capture_output=True, text=True)


def test_the_line_length_is_what_the_column_shows():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["ruff"]["line-length"] == 76


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_ruff_formatted(path):
    done = _run("format", "--check", "--diff", str(path.relative_to(ROOT)))
    assert done.returncode == 0, f"run `ruff format {path.relative_to(ROOT)}`:\n{done.stdout[-3000:]}{done.stderr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_line_is_longer_than_the_column(path):
    done = _run("check", "--select", "E501", "--output-format", "concise", "--no-cache",
                str(path.relative_to(ROOT)))
    assert done.returncode == 0, f"lines too long for the HTML column:\n{done.stdout[-3000:]}{done.stderr}"


def fenced_lines(markdown: str) -> list[str]:
    """The lines inside code fences (```python, ```bash, ```) of a markdown text; directives (```{solution}) are
    containers, not code, so only the fences inside them count."""
    stack: list[tuple[str, bool]] = []  # (fence, is a code block)
    lines = []
    for line in markdown.splitlines():
        fence = re.match(r"^\s*(`{3,}|~{3,})\s*(.*)$", line)
        if fence:
            mark, info = fence.groups()
            if stack and not info and mark[0] == stack[-1][0][0] and len(mark) >= len(stack[-1][0]):
                stack.pop()
            else:
                stack.append((mark, not info.startswith("{") or info.startswith("{code")))
        elif stack and stack[-1][1]:
            lines.append(line)
    return lines


def test_fenced_lines_on_an_example():
    text = "````{solution} x\n:class: dropdown\n\n```python\nx = 1\n```\n\nProse.\n````\n```\nplain\n```\n"
    assert fenced_lines(text) == ["x = 1", "plain"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_in_the_prose_fits_its_box(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    long = [line for c in cells if c["cell_type"] == "markdown" for line in fenced_lines("".join(c["source"]))
            if len(line) > FENCE_WIDTH]
    indented = [c["id"] for c in cells if c["cell_type"] == "markdown"
                and re.search(r"^:class: dropdown\n\n {4}\S", "".join(c["source"]), re.M)]
    assert not long, f"code lines in markdown cells longer than {FENCE_WIDTH} characters:\n" + "\n".join(long)
    assert not indented, f"cells {indented}: a solution's code as an indented block; use a ```python fence"
