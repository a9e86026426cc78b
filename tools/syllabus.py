"""Write ``book/syllabus.md``: the course's syllabus table, included by the instructors' page.

Everything in it is read from the sources, never typed twice:

- the sessions and their chapters from the course plan of ``book/instructors.md`` (``### Session N: title`` and
  its ``- **Chapters:**`` line);
- each chapter's reading time from ``tools/course_times.py`` and its run time from ``book/runtime_table.md``
  (measured on 2 CPU cores, as the course-time table shows them); a chapter missing from the table makes the
  session's run time "not measured";
- each session's assignment (``assignments/sN_*.py``): its autograded and written points and the book exercises
  it is built from, from ``tools/assignments.py``.

The weights and due points are the course's policy (``ASSIGNMENT_WEIGHT``, ``PROJECT_WEIGHT``), and the learning
outcome each assignment checks is written here (``OUTCOMES``), in the words of the chapters' outcomes.
``tests/unit/test_assignments.py`` checks that the committed file is what this script writes.
Usage: ``python tools/syllabus.py`` (rewrites the file and prints its path).
"""
from __future__ import annotations

import re
from pathlib import Path

import course_times

import assignments

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "syllabus.md"
CLASS_MINUTES = 90
ASSIGNMENT_WEIGHT = 8  # percent of the course grade, each of the nine assignments
PROJECT_WEIGHT = 28  # percent: the final project of session 9
OUTCOMES = {
    1: "write the multi-task objective and a `Task`; count what sharing a trunk saves; see that a common factor on "
       "the weights is a learning rate under SGD, not under Adam; the standard error of an accuracy",
    2: "measure relatedness by labels (mutual information) and by features (CKA, and why it must ignore rotations); "
       "how many seeds a difference needs",
    3: "Δm% with its sign convention; a frozen trunk with a fresh head; choices on validation by the mean over "
       "seeds, the test set scored once, a paired verdict",
    4: "the cost of soft sharing and cross-stitch units as tasks grow; a sharing penalty written out; why "
       "distillation needs T²; turning fine classes into coarse ones",
    5: "what uncertainty weighting settles on; a change of unit as a static weight; MGDA's closed form; PCGrad's "
       "order with three tasks",
    6: "choosing task groups from an affinity table; what a rank correlation over six tasks can show, with its "
       "exact p",
    7: "Δm% of a published table; the bias of choosing an epoch on the test set; FLOPs of separate encoders "
       "against task tokens",
    8: "an MMoE's per-task gates written out; expert collapse; Δm% per task against over nine metrics; TIES "
       "merging; permutations of hidden units",
    9: "why data parallelism is exact for a weighted sum and not for MGDA; shared random orders across workers; a "
       "Pareto front of Δm and time; planning the experiments for a new problem",
}


def sessions(page: Path = ROOT / "book" / "instructors.md") -> list[tuple[int, str, list[str]]]:
    """The course plan: ``(number, title, chapter names)`` for each ``### Session N: title`` of the page."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^### Session (\d+): (.+?)\n(.*?)(?=^##)", text, re.M | re.S):
        chapters = re.search(r"^- \*\*Chapters:\*\* (.*)$", match.group(3), re.M)
        if chapters is None:
            raise ValueError(f"session {match.group(1)} of {page.name} has no '- **Chapters:**' line")
        found.append((int(match.group(1)), match.group(2).strip(), re.findall(r"\{doc\}`([\w-]+)`", chapters.group(1))))
    if not found:
        raise ValueError(f"{page.name} has no '### Session N: title' sections")
    return found


def _minutes(chapters: list[str], root: Path) -> int:
    return sum(course_times.reading_minutes(root / "book" / f"{c}.ipynb") for c in chapters)


def _run_seconds(chapters: list[str], root: Path) -> str:
    measured = course_times.run_seconds(root / "book" / "runtime_table.md")
    times = [measured.get(f"{c}.ipynb") for c in chapters]
    return "not measured" if None in times else f"{sum(float(t) for t in times):.0f}"


def render(root: Path = ROOT) -> str:
    """The markdown of ``book/syllabus.md``."""
    by_session = {int(re.match(r"s(\d+)_", s.name).group(1)): s for s in assignments.sources(root / "assignments")}
    plan = sessions(root / "book" / "instructors.md")
    if sorted(by_session) != [n for n, _, _ in plan]:
        raise ValueError(f"assignments for sessions {sorted(by_session)}, course plan has {[n for n, _, _ in plan]}")
    rows, outcomes = [], []
    for number, title, chapters in plan:
        source = by_session[number]
        questions = assignments.questions(source)
        auto = assignments.autograded_points(source)
        written = sum(q.points for q in questions if q.manual)
        exercises = sorted(set(re.findall(r"`((?:ch\d+b?|appd)-ex-[\w-]+)`", source.read_text())),
                           key=lambda e: [int(n) if n.isdigit() else n for n in re.split(r"(\d+)", e)])
        due = f"before session {number + 1}" if number < len(plan) else "one week after session 9"
        rows.append(f"| {number}. {title} | {CLASS_MINUTES} | {_minutes(chapters, root)} | "
                    f"{_run_seconds(chapters, root)} | `{source.stem}` | {auto:g} + {written:g} | "
                    f"{ASSIGNMENT_WEIGHT}% | {due} |\n")
        outcomes.append(f"| `{source.stem}` | {OUTCOMES[number]} | "
                        + ", ".join(f"{{ref}}`{e} <{e}>`" for e in exercises) + " |\n")
    total = ASSIGNMENT_WEIGHT * len(plan) + PROJECT_WEIGHT
    if total != 100:
        raise ValueError(f"the weights add up to {total}%, not 100%")
    return ("% Written by tools/syllabus.py from the course plan, the notebooks, book/runtime_table.md and "
            "assignments/; do not edit.\n"
            "| session | in class (min) | reading before (min) | run time on 2 CPU cores (s) | assignment | "
            "points (autograded + written) | weight | due |\n"
            "|---|---:|---:|---:|---|---:|---:|---|\n" + "".join(rows)
            + f"| final project (session 9) | | | | one of the projects of session 9 | rubric | {PROJECT_WEIGHT}% | "
              "three weeks after session 9 |\n\n"
            "| assignment | learning outcome it checks | from the exercises |\n|---|---|---|\n" + "".join(outcomes))


def main() -> Path:
    OUT.write_text(render(), encoding="utf-8")
    return OUT


if __name__ == "__main__":
    print(f"wrote {main().relative_to(ROOT)}")
