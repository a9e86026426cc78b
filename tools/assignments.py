"""Build the course's autograded assignments (``make assignments``) with otter-grader, and grade them locally.

One assignment per session of the course plan on the instructors' page. Each source, ``assignments/sN_*.py``, is an
otter-grader *master notebook* (format v1) written as a Jupytext "percent" script, so that it reads and diffs as
code: raw cells hold otter's markers (``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION`` ... ``# END QUESTION``), code
solutions sit between ``# BEGIN SOLUTION`` and ``# END SOLUTION``, and test cells are exception-based functions
``test_*(env)``; a test whose config says ``hidden: true`` is left out of the student notebook and kept in the
autograder. ``otter assign`` turns each master into

- ``OUT/<name>/student/<name>.ipynb``: the student notebook, solutions replaced by ``...``, public tests only;
- ``OUT/<name>/autograder/``: the reference solution notebook and ``autograder.zip``, every test included.

Grading needs no container: ``grade`` runs otter's local grader (``otter.api.grade_submission``, the engine of
``otter run``) in this Python environment, which must have ``mtl_utils`` installed. A question without a solution
block is a *given* (worked) question: its code is complete in the student notebook too, so an untouched student
notebook scores exactly the given questions' points (``blank_score``). Questions with ``manual: true`` are written
answers, marked by hand with the rubric on the instructors' page, and are not part of the autograded score.
Usage: ``python tools/assignments.py [OUT_DIR] [--check]`` (default ``_build/assignments``); ``--check`` grades
every reference solution and every untouched student notebook and fails unless they score full and blank marks.
"""
from __future__ import annotations

import argparse
import multiprocessing
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "assignments"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


@dataclass(frozen=True)
class Question:
    """One question of a master notebook: its otter name, points, and whether it is manual or given."""

    name: str
    points: float
    manual: bool
    given: bool


def sources(root: Path = SOURCES) -> list[Path]:
    """The assignment sources, in session order (``s1_...py`` to ``s9_...py``)."""
    found = sorted(root.glob("s[0-9]*.py"), key=lambda p: int(re.match(r"s(\d+)", p.name).group(1)))
    if not found:
        raise FileNotFoundError(f"no assignment sources s<N>_*.py in {root}")
    return found


def master_notebook(source: Path) -> nbformat.NotebookNode:
    """The otter master notebook written in ``source`` (a Jupytext percent script)."""
    import jupytext

    nb = jupytext.reads(source.read_text(encoding="utf-8"), fmt="py:percent")
    nb.metadata = nbformat.NotebookNode({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    return nb


def _raw_config(cell) -> dict | None:
    """The YAML of a raw otter cell that starts with ``# BEGIN QUESTION``, or None for any other cell."""
    import yaml

    lines = cell.source.splitlines()
    if cell.cell_type != "raw" or not lines or lines[0].strip() != "# BEGIN QUESTION":
        return None
    return yaml.safe_load("\n".join(lines[1:])) or {}


def questions(source: Path) -> list[Question]:
    """The questions of an assignment, in order: a question is *given* when it has no ``# BEGIN SOLUTION`` block."""
    found, current, has_solution = [], None, False
    for cell in master_notebook(source).cells:
        text = cell.source.strip()
        config = _raw_config(cell)
        if config is not None:
            if "name" not in config or "points" not in config:
                raise ValueError(f"{source.name}: every question needs a name and points, got {config}")
            current, has_solution = config, False
        elif cell.cell_type == "raw" and text == "# BEGIN SOLUTION":
            has_solution = True
        elif cell.cell_type == "raw" and text == "# END QUESTION":
            if current is None:
                raise ValueError(f"{source.name}: '# END QUESTION' without a question")
            found.append(Question(str(current["name"]), float(current["points"]), bool(current.get("manual")),
                                  not has_solution))
            current = None
    if current is not None:
        raise ValueError(f"{source.name}: question {current['name']!r} has no '# END QUESTION'")
    return found


def autograded_points(source: Path) -> float:
    """The points the autograder awards for a complete, correct notebook (manual questions excluded)."""
    return sum(q.points for q in questions(source) if not q.manual)


def blank_score(source: Path) -> float:
    """The autograded points of the untouched student notebook: those of the given questions."""
    return sum(q.points for q in questions(source) if q.given and not q.manual)


def build_one(source: Path, out_dir: Path, run_tests: bool = True) -> Path:
    """Run ``otter assign`` on one source into ``out_dir/<name>``; return that folder."""
    name = source.stem
    target = out_dir / name
    shutil.rmtree(target, ignore_errors=True)
    masters = out_dir / "masters"
    masters.mkdir(parents=True, exist_ok=True)
    master = masters / f"{name}.ipynb"
    nbformat.write(master_notebook(source), master)
    command = [sys.executable, "-m", "otter", "assign", str(master), str(target)]
    if not run_tests:
        command.append("--no-run-tests")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"otter assign failed for {source.name}:\n{done.stdout}\n{done.stderr}")
    zips = list((target / "autograder").glob("*-autograder_*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign wrote {len(zips)} autograder zips for {source.name}, expected one")
    zips[0].rename(target / "autograder" / "autograder.zip")  # a fixed name instead of otter's time stamp
    return target


def build(out_dir: Path, run_tests: bool = True, workers: int = 2) -> list[Path]:
    """Build every assignment into ``out_dir``; ``run_tests`` makes otter check each reference solution first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda s: build_one(s, out_dir, run_tests), sources()))


def student_notebook(built: Path) -> Path:
    return built / "student" / f"{built.name}.ipynb"


def solution_notebook(built: Path) -> Path:
    return built / "autograder" / f"{built.name}.ipynb"


def autograder_zip(built: Path) -> Path:
    return built / "autograder" / "autograder.zip"


def grade(notebook: Path, autograder: Path) -> dict[str, float]:
    """Grade ``notebook`` locally with otter (no container): ``{question: score}``, plus ``"total"``."""
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(autograder), quiet=True)
    scores = {name: float(result.score) for name, result in results.results.items()}
    scores["total"] = float(results.total)
    return scores


def grade_many(pairs: list[tuple[Path, Path]], workers: int = 2) -> list[dict[str, float]]:
    """``grade`` for each ``(notebook, autograder)`` pair, in worker processes (otter changes the working directory
    while it grades, so gradings cannot share a process)."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(grade, *zip(*pairs)))


def check(out_dir: Path, workers: int = 2) -> list[str]:
    """Grade every built assignment's reference solution and untouched student notebook; return the failures."""
    jobs = []
    for source in sources():
        built = out_dir / source.stem
        jobs.append((source, "solution", solution_notebook(built), autograded_points(source), autograder_zip(built)))
        jobs.append((source, "student", student_notebook(built), blank_score(source), autograder_zip(built)))
    graded = list(zip(jobs, grade_many([(job[2], job[4]) for job in jobs], workers)))
    failures = []
    for (source, kind, _, expected, _), scores in graded:
        line = f"{source.stem:24s} {kind:8s} {scores['total']:5.1f} / expected {expected:5.1f}"
        print(line)
        if abs(scores["total"] - expected) > 1e-9:
            failures.append(f"{line}: {scores}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "_build" / "assignments"))
    parser.add_argument("--check", action="store_true", help="grade the solutions and the blank notebooks")
    args = parser.parse_args()
    out = Path(args.out)
    for built in build(out):
        print(f"built {built}: student/{built.name}.ipynb, autograder/autograder.zip")
    if args.check:
        failures = check(out)
        if failures:
            sys.exit("assignments graded wrong:\n" + "\n".join(failures))
        print("every reference solution scores full marks and every blank notebook its given points")


if __name__ == "__main__":
    main()
