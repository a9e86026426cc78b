"""The first cell of every notebook of the book: on Colab, install ``mtl_utils`` from the book's repository.

The repository's URL lives in one place, ``repository.url`` in ``_config.yml``; this script writes the cell, with
that URL, into every notebook of ``book/`` (``--check`` only reports the ones that differ). Run it after changing the
URL. ``tests/unit/test_notebooks.py`` checks that every notebook's first cell is ``cell_source()``, tagged
``remove-cell`` (hidden in the HTML), and ``tests/colab`` runs it on a stand-in Colab.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE = """\
# Setup. On Colab, install the book's helper package (nothing is installed
# elsewhere); draw sharp figures.
import sys

if "google.colab" in sys.modules:
    %pip install --quiet "mtl_utils @ git+{url}"
%config InlineBackend.figure_formats = ["retina"]"""


def repository_url(root: Path = ROOT) -> str:
    """``repository.url`` of ``_config.yml``: where Colab installs ``mtl_utils`` from."""
    return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]


def cell_source(url: str | None = None) -> str:
    """The first cell's text, installing from ``url`` (by default the configured repository)."""
    return TEMPLATE.format(url=url or repository_url())


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the book (the chapters and the appendix)."""
    return sorted((root / "book").glob("*.ipynb"))


def set_first_cell(path: Path, source: str) -> bool:
    """Make ``source`` the first cell of ``path`` (tagged ``remove-cell``); return whether the file changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cell = nb["cells"][0]
    if cell["cell_type"] != "code" or '"google.colab" in sys.modules' not in "".join(cell["source"]):
        raise ValueError(f"{path.name}: the first cell is not the Colab setup cell")
    cell["source"] = source.splitlines(keepends=True)
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if "remove-cell" not in tags:
        tags.append("remove-cell")
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of book/")
    parser.add_argument("--check", action="store_true", help="only list the notebooks whose first cell differs")
    args = parser.parse_args()
    source, stale = cell_source(), []
    for path in args.notebooks or notebooks():
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        if first != source:
            stale.append(path)
            if not args.check:
                set_first_cell(path, source)
    verb = "differ" if args.check else "rewritten"
    print(f"{len(stale)} first cells {verb}" + "".join(f"\n  {p}" for p in stale))
    raise SystemExit(1 if args.check and stale else 0)


if __name__ == "__main__":
    main()
