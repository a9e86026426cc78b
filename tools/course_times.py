"""Write ``book/course_times.md``: the reading time and the run time of every chapter, for the instructors' page.

The times are computed, never typed by hand, so that they follow the notebooks:

- reading time (minutes) = words in the markdown cells / 200 words per minute + non-blank characters of code / 500
  per minute, rounded up. The code is counted in characters, not lines, so that formatting it to the page (which
  splits long lines) does not change the time: 500 characters a minute is the earlier rate of 10 lines a minute on
  the code as it was written before it was wrapped (about 50 non-blank characters a line);
- run time (seconds) is read from ``book/runtime_table.md`` (measured by ``bench/book_budget.py`` on 2 CPU cores)
  and from ``book/runtime_table_one_core.md`` (``bench/book_budget.py --cores 1``: one core, as on a one-core
  runtime); a chapter missing from a table is "not measured".

The chapters are the notebooks listed in ``_toc.yml`` that exist on disk, in the table of contents' order.
``tests/unit/test_course_pages.py`` checks that the committed file is what this script writes.
Usage: ``python tools/course_times.py`` (rewrites the file and prints its path).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "course_times.md"
WORDS_PER_MINUTE = 200
CODE_CHARS_PER_MINUTE = 500  # non-blank characters: about 10 unwrapped lines of code
HEADER = ("| chapter | reading time (min) | run time on 2 CPU cores (s) | run time on 1 CPU core (s) |\n"
          "|---|---:|---:|---:|\n")


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks that ``_toc.yml`` lists and that exist on disk, in the order of the table of contents."""
    def files(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    paths = [root / f"{name}.ipynb" for name in files(toc)]
    return [p for p in paths if p.is_file()]


def reading_minutes(notebook: Path) -> int:
    """Minutes to read a notebook: its markdown words at 200 a minute plus its code's non-blank characters at 500 a
    minute (about 10 unwrapped lines), rounded up."""
    cells = json.loads(notebook.read_text())["cells"]
    source = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    words = sum(len(s.split()) for c, s in zip(cells, source) if c["cell_type"] == "markdown")
    code = sum(len("".join(s.split())) for c, s in zip(cells, source) if c["cell_type"] == "code")
    return math.ceil(words / WORDS_PER_MINUTE + code / CODE_CHARS_PER_MINUTE)


def run_seconds(table: Path) -> dict[str, str]:
    """The seconds column of the run-time table, by notebook file name (``01_why_multitask.ipynb``: ``"6.7"``)."""
    row = re.compile(r"^\|\s*([\w.-]+\.ipynb)\s*\|\s*([0-9.]+)\s*\|", re.M)
    found = dict(row.findall(table.read_text())) if table.is_file() else {}
    if table.is_file() and not found:
        raise ValueError(f"{table} has no row '| NAME.ipynb | SECONDS | ...': has its format changed?")
    return found


def render(root: Path = ROOT) -> str:
    """The markdown table of ``book/course_times.md``."""
    two = run_seconds(root / "book" / "runtime_table.md")
    one = run_seconds(root / "book" / "runtime_table_one_core.md")
    rows = []
    for nb in toc_notebooks(root):
        rows.append(f"| {{doc}}`{nb.stem}` | {reading_minutes(nb)} | {two.get(nb.name, 'not measured')} | "
                    f"{one.get(nb.name, 'not measured')} |\n")
    return ("% Written by tools/course_times.py from the notebooks, book/runtime_table.md and "
            "book/runtime_table_one_core.md; do not edit.\n" + HEADER + "".join(rows))


def main() -> Path:
    OUT.write_text(render())
    return OUT


if __name__ == "__main__":
    print(f"wrote {main().relative_to(ROOT)}")
