"""House rules for every chapter notebook, checked without running it (nbval runs them)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]*_*.ipynb"))  # 01b_ is the second part of chapter 1
REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
sys.path.insert(0, str(ROOT / "tools"))
import first_cell  # noqa: E402

TOC = (ROOT / "_toc.yml").read_text()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_chapters():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS + [ROOT / "book" / "appendix_distributed.ipynb"], ids=lambda p: p.name)
def test_first_cell_installs_only_on_colab_from_the_configured_repository(path):
    """Every notebook starts with the same setup cell, the one tools/first_cell.py writes (run it to fix one)."""
    first = _cells(path)[0]
    src = _source(first)
    assert first["cell_type"] == "code" and '"google.colab" in sys.modules' in src
    assert "remove-cell" in first["metadata"].get("tags", []), "the setup cell is hidden in the HTML (remove-cell tag)"
    urls = re.findall(r"git\+(https://\S+?)[\"'\s]", src)
    assert urls == [REPO_URL], f"the install URL should be _config.yml's repository.url ({REPO_URL}), got {urls}"
    assert src == first_cell.cell_source(), f"not the book's setup cell: run `python tools/first_cell.py {path.name}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_structure(path):
    markdown = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    assert re.search(r"^# \d+b?\. ", markdown, re.M), "a numbered title"
    assert "What you will learn" in markdown and "Prerequisites" in markdown
    for heading in ("## Summary", "## Exercises", "## References"):
        assert heading in markdown, f"missing {heading}"
    assert markdown.count("```{exercise}") >= 3, "at least three exercises"
    assert markdown.count("```{solution}") >= markdown.count("```{exercise}")
    assert markdown.count(":class: dropdown") >= markdown.count("```{solution}"), "solutions are collapsed"
    assert "{footcite}" in markdown and "```{footbibliography}" in markdown, "per-chapter references as footnotes"
    assert f"book/{path.stem}" in TOC, "listed in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_outputs_and_asserts(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code[1:]), "every cell executed (commit with outputs)"
    assert sum(bool(c.get("outputs")) for c in code) >= 3
    assert any(re.search(r"^\s*assert ", _source(c), re.M) for c in code), "claims are checked by asserts"
    assert any(_source(c).startswith("# NBVAL_CHECK_OUTPUT") for c in code), "deterministic cells are checked"


@pytest.mark.parametrize("path", NOTEBOOKS + [ROOT / "book" / "appendix_distributed.ipynb"], ids=lambda p: p.name)
def test_exercise_code_is_tagged_solution(path):
    """`make student` removes cells tagged `solution`: every code cell of the Exercises section must carry the tag."""
    in_exercises = False
    for cell in _cells(path):
        assert "id" in cell, "every cell has an id (nbformat 4.5)"
        if cell["cell_type"] == "markdown":
            src = _source(cell)
            exercises, references = src.rfind("## Exercises"), src.rfind("## References")
            if exercises >= 0 or references >= 0:
                in_exercises = exercises > references
        elif in_exercises:
            assert "solution" in cell["metadata"].get("tags", []), f"untagged code in the Exercises section: {_source(cell)[:80]!r}"
