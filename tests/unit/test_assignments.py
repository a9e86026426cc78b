"""The assignments' sources (``assignments/*.py``), without running otter: one per session of the course plan, the
points they award, the book exercises they come from, and the syllabus that lists them.

Building and grading them is slow (a Jupyter kernel per notebook) and lives in ``tests/assignments/``.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import syllabus  # noqa: E402

import assignments as A  # noqa: E402

# (autograded points of a correct notebook, points of the untouched student notebook, manual points)
EXPECTED = {
    "s1_why_multitask": (12, 1, 2),
    "s2_relatedness_and_baselines": (11, 1, 3),
    "s3_hard_sharing": (9, 1, 3),
    "s4_soft_sharing_and_distillation": (12, 1, 2),
    "s5_task_weighting_and_gradients": (12, 1, 3),
    "s6_task_affinity": (8, 1, 3),
    "s7_benchmark_and_transformer": (9, 1, 3),
    "s8_experts_dense_merging": (15, 1, 3),
    "s9_when_mtl_pays_off": (10, 1, 4),
}
SOURCES = A.sources()


def _book_labels() -> set[str]:
    labels = set()
    for nb in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            labels.update(re.findall(r"^:label: (\S+)", "".join(cell["source"]), re.M))
    return labels


def test_one_assignment_per_session_of_the_course_plan():
    sessions = re.findall(r"^### Session (\d+):", (ROOT / "book" / "instructors.md").read_text(), re.M)
    assert [int(re.match(r"s(\d+)_", s.name).group(1)) for s in SOURCES] == [int(n) for n in sessions]
    assert sorted(s.stem for s in SOURCES) == sorted(EXPECTED)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_points(source):
    full, blank, manual = EXPECTED[source.stem]
    assert A.autograded_points(source) == full
    assert A.blank_score(source) == blank
    assert sum(q.points for q in A.questions(source) if q.manual) == manual


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_question_zero_is_given_and_every_other_question_has_a_solution(source):
    found = A.questions(source)
    assert found[0].name == "q0" and found[0].given and not found[0].manual
    assert all(not q.given for q in found[1:]), "only question 0 is worked for the student"
    assert any(q.manual for q in found), "each assignment has a written question, marked with the rubric"
    assert [q.name for q in found] == [f"q{i}" for i in range(len(found))]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_exercise_it_names_exists_in_the_book(source):
    named = set(re.findall(r"`((?:ch\d+b?|appd)-ex-[\w-]+)`", source.read_text()))
    assert named, "an assignment says which exercises it comes from"
    missing = named - _book_labels()
    assert not missing, f"{source.name} names exercises the book no longer has: {sorted(missing)}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_hidden_tests_exist_for_every_autograded_question(source):
    text = source.read_text()
    for block in re.findall(r"# # BEGIN QUESTION\n(.*?)# # END QUESTION", text, re.S)[1:]:
        if "manual: true" in block:
            continue
        assert "hidden: true" in block, f"{source.name}: a question without hidden tests"


def test_a_question_without_end_is_an_error(tmp_path):
    bad = tmp_path / "s1_bad.py"
    bad.write_text("# %% [raw]\n# # BEGIN QUESTION\n# name: q0\n# points: 1\n\n# %%\nx = 1\n")
    with pytest.raises(ValueError, match="has no '# END QUESTION'"):
        A.questions(bad)


def test_the_syllabus_is_what_the_script_writes():
    committed = (ROOT / "book" / "syllabus.md").read_text()
    assert committed == syllabus.render(), "book/syllabus.md is stale: run `python tools/syllabus.py`"


def test_the_instructors_page_includes_the_syllabus():
    assert "```{include} syllabus.md" in (ROOT / "book" / "instructors.md").read_text()
