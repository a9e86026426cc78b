"""Write the student edition of every chapter: the same notebooks with the solutions taken out (``make student``).

Two things are solutions. In markdown, every ```` ```{solution} ```` block (the exercise stays, the dropdown with
its answer goes). In code, every cell tagged ``solution`` (the code solutions that CI executes). Outputs are
cleared, so students run the notebooks themselves. Usage: ``python tools/student.py [OUT_DIR]`` (default
``_build/student``).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
# A solution directive: an opening fence of 3+ backticks, then everything up to a closing fence of the same length.
SOLUTION = re.compile(r"^(?P<fence>`{3,})\{solution\}.*?^(?P=fence)[ \t]*$\n?", re.M | re.S)


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solution blocks, solution cells or outputs."""
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    for index, cell in enumerate(nb.cells):
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        cell = nbformat.from_dict(dict(cell))
        cell.setdefault("id", f"cell-{index}")
        if cell.cell_type == "markdown":
            cell.source = SOLUTION.sub("", cell.source)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        out.cells.append(cell)
    return out


def main(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        target = out_dir / path.name
        nbformat.write(strip_solutions(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


if __name__ == "__main__":
    paths = main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "student")
    print(f"{len(paths)} student notebooks (solutions removed) in {paths[0].parent if paths else '-'}")
