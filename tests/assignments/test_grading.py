"""``make assignments`` end to end: otter-grader builds every assignment, grades each reference solution at full
marks and each untouched student notebook at its given points, locally and without a container runtime, and no
solution or hidden test reaches the student side.

Slow (a Jupyter kernel for every build and every grading: 27 kernels); run with ``pytest tests/assignments``.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import assignments as A  # noqa: E402

SOURCES = A.sources()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    A.build(out, run_tests=False, workers=4)  # the grading below checks the solutions
    return out


@pytest.fixture(scope="module")
def grades(built):
    pairs = []
    for source in SOURCES:
        folder = built / source.stem
        pairs += [(A.solution_notebook(folder), A.autograder_zip(folder)),
                  (A.student_notebook(folder), A.autograder_zip(folder))]
    scores = A.grade_many(pairs, workers=4)
    return {source.stem: (scores[2 * i], scores[2 * i + 1]) for i, source in enumerate(SOURCES)}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_reference_solution_gets_full_marks(source, grades):
    solution, _ = grades[source.stem]
    assert solution["total"] == A.autograded_points(source), solution
    assert all(solution[q.name] == q.points for q in A.questions(source) if not q.manual), solution


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_untouched_student_notebook_gets_the_given_points(source, grades):
    _, blank = grades[source.stem]
    assert blank["total"] == A.blank_score(source), blank
    assert blank["q0"] == A.questions(source)[0].points


def _solution_lines(source: Path) -> set[str]:
    """Lines of the reference solution that the student must not see: long enough to be specific, and not also
    written outside the solutions (in a prompt or in given code)."""
    solution, elsewhere, inside = set(), set(), False
    for cell in A.master_notebook(source).cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text in ("# BEGIN SOLUTION", "# END SOLUTION"):
            inside = text == "# BEGIN SOLUTION"
            continue
        in_code_block = False
        for line in cell.source.splitlines():
            if line.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
                in_code_block = line.strip() == "# BEGIN SOLUTION"
                continue
            marked = line.rstrip().endswith("# SOLUTION") or in_code_block
            hidden = marked or (inside and cell.cell_type == "markdown")
            (solution if hidden else elsewhere).add(line.replace("# SOLUTION", "").strip())
    prose = "\n".join(elsewhere)
    return {line for line in solution if len(line) >= 20 and line not in prose}


def _readable(path: Path) -> str:
    """A file's text; for a notebook, its cells' sources and its otter tests, unescaped."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8", errors="replace")
    nb = nbformat.read(path, as_version=4)
    tests = nb.metadata.get("otter", {}).get("tests", {})
    return "\n".join([cell.source for cell in nb.cells] + [str(v) for v in tests.values()])


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_solution_or_hidden_test_on_the_student_side(source, built):
    folder = built / source.stem
    student = folder / "student"
    text = "\n".join(_readable(p) for p in student.rglob("*") if p.is_file())
    lines = _solution_lines(source)
    assert lines, "the solution lines were found"
    leaked = sorted(line for line in lines if line in text)
    assert not leaked, f"solution text in the student side of {source.stem}: {leaked[:5]}"
    hidden = re.findall(r'hidden: true\n""" # END TEST CONFIG\ndef (test_\w+)', source.read_text())
    assert hidden and not [name for name in hidden if name in text], "a hidden test reached the student side"
    meta = nbformat.read(A.student_notebook(folder), as_version=4).metadata["otter"]["tests"]
    assert "hidden=True" not in json.dumps(meta)
    # the instructor's side keeps them
    solution_text = _readable(A.solution_notebook(folder))
    assert all(line in solution_text for line in lines)
