"""`make student`: every solution is removed, and the student notebooks still run up to the exercises."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, str(ROOT / "tools" / "student.py"), str(out)], check=True, capture_output=True)
    return out


def test_no_solution_survives(written):
    books = sorted((ROOT / "book").glob("*.ipynb"))
    assert sorted(p.name for p in written.glob("*.ipynb")) == [p.name for p in books]
    for path in written.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert "{solution}" not in text, path.name
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells), path.name
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
        original = nbformat.read(ROOT / "book" / path.name, as_version=4)
        exercises = sum(c.source.count("{exercise}") for c in original.cells)
        assert text.count("{exercise}") == exercises, f"{path.name}: an exercise was lost"


def test_solution_blocks_with_nested_fences_are_removed():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Exercises\n\n```{exercise}\n:label: a\nDo it.\n```\n\n"
                                      "````{solution} a\n:class: dropdown\n\n```python\nanswer = 42\n```\n````\n\nAfter."),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution", "hide-output"]}),
        nbformat.v4.new_code_cell("keep = 1")])
    out = student.strip_solutions(nb)
    assert [c.source for c in out.cells][1:] == ["keep = 1"]
    assert "answer" not in out.cells[0].source and "Do it." in out.cells[0].source and "After." in out.cells[0].source


def test_answers_and_solutions_leave_markdown_pages():
    page = ("# Questions\n\n```{admonition} Question 1.1\nWhy?\n```\n````{dropdown} Answer\nBecause.\n\n"
            "```python\nx = 1\n```\n````\n\n```{admonition} Question 1.2\nHow?\n```\n"
            "```{dropdown} Answer\nThus.\n```\n\n```{dropdown} Details\nKept.\n```\n")
    out = student.strip_answers(page)
    assert "Because" not in out and "Thus" not in out and "x = 1" not in out
    assert "Why?" in out and "How?" in out and "Kept." in out  # the questions and other dropdowns stay


def test_the_html_edition_keeps_outputs_but_not_solution_cells():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")])])
    out = student.strip_solutions(nb, keep_outputs=True)
    assert [c.source for c in out.cells] == ["print(1)"] and out.cells[0].outputs[0]["text"] == "1\n"


def test_chapter_one_runs_up_to_the_exercises(written, monkeypatch):
    monkeypatch.setenv("MTL_PROGRESS", "0")
    nb = nbformat.read(written / "01_why_multitask.ipynb", as_version=4)
    cut = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    nb.cells = nb.cells[:cut]
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors and any(c.outputs for c in nb.cells if c.cell_type == "code")
