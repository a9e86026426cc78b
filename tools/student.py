"""Write the student edition of the book (``make student``): the notebooks, and with ``--html`` the HTML book, with
the solutions taken out.

Two things are solutions. In markdown, every ```` ```{solution} ```` block (the exercise stays, the dropdown with
its answer goes). In code, every cell tagged ``solution`` (the code solutions that CI executes). The student
notebooks have their outputs cleared, so students run them themselves. The student HTML book keeps the outputs of
every other cell, and its questions page keeps the questions without their answer dropdowns. Usage:
``python tools/student.py [OUT_DIR] [--html]`` (default ``_build/student``; the HTML goes to ``OUT_DIR/html``).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
# A solution directive: an opening fence of 3+ backticks, then everything up to a closing fence of the same length.
SOLUTION = re.compile(r"^(?P<fence>`{3,})\{solution\}.*?^(?P=fence)[ \t]*$\n?", re.M | re.S)
# An answer on the questions page: a dropdown titled "Answer", fenced the same way.
ANSWER = re.compile(r"^(?P<fence>`{3,})\{dropdown\} Answer.*?^(?P=fence)[ \t]*$\n?", re.M | re.S)


def strip_solutions(nb: nbformat.NotebookNode, keep_outputs: bool = False) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solution blocks or solution cells, and without outputs unless ``keep_outputs``."""
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    for index, cell in enumerate(nb.cells):
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        cell = nbformat.from_dict(dict(cell))
        cell.setdefault("id", f"cell-{index}")
        if cell.cell_type == "markdown":
            cell.source = SOLUTION.sub("", cell.source)
        elif cell.cell_type == "code" and not keep_outputs:
            cell.outputs, cell.execution_count = [], None
        out.cells.append(cell)
    return out


def strip_answers(markdown: str) -> str:
    """A markdown page without its ``{solution}`` blocks and its "Answer" dropdowns."""
    return ANSWER.sub("", SOLUTION.sub("", markdown))


def student_notebooks(out_dir: Path) -> list[Path]:
    """Every chapter without solutions or outputs, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        target = out_dir / path.name
        nbformat.write(strip_solutions(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def student_html(out_dir: Path) -> Path:
    """Build the HTML book from a copy of the sources without solutions or answers; return the HTML folder."""
    src = out_dir / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, src / name)
    for path in (ROOT / "book").iterdir():
        target = src / "book" / path.name
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.suffix == ".ipynb":
            nbformat.write(strip_solutions(nbformat.read(path, as_version=4), keep_outputs=True), target)
        elif path.suffix == ".md":
            target.write_text(strip_answers(path.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copy(path, target)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(src), "--builder", "html", "-W", "-n", "--keep-going"],
                   check=True, stdout=subprocess.DEVNULL)
    html = out_dir / "html"
    shutil.rmtree(html, ignore_errors=True)
    shutil.move(src / "_build" / "html", html)
    return html


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--html", action="store_true", help="also build the student edition of the HTML book")
    args = parser.parse_args()
    paths = student_notebooks(args.out_dir)
    print(f"{len(paths)} student notebooks (solutions removed) in {args.out_dir}")
    if args.html:
        print(f"student edition of the HTML book (no solutions, no answers): {student_html(args.out_dir)}/index.html")
