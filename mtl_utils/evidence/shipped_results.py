"""The book's committed results inside the installed package, for a runtime that has only the package (Colab).

Colab opens one notebook alone: no ``book/`` folder, no other chapters, no results files. So that the closing
chapter runs there too, the package ships the committed results as package data (``mtl_utils/book_results/``,
copied from ``book/results/`` by ``tools/ship_results.py``; a unit test checks that the copies are byte for byte the
committed files, which the test suite checks are fresh).

``load`` reads a chapter's results from the working folder whenever its results file or its notebook is there,
through ``mtl_utils.evidence.results.load`` and all of its checks. Otherwise it reads the shipped copy, with the checks that
can still be made: every ``mtl_utils`` module the chapter had imported must be unchanged in the installed package
(the package and its data come from one commit, so an edited copy of the package is caught), and the seeds must
match. The chapter's code and torch version were checked when the copy was committed; a runtime with another torch
version is told so in the record's ``note``, not refused, because the numbers are the book's, not this runtime's.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import torch

from ..foundations.cache import module_hashes
from . import results

__all__ = ["load", "shipped_path"]


def shipped_path(chapter: str):
    """Where the installed package keeps ``chapter``'s committed results (a ``Traversable``)."""
    return resources.files("mtl_utils") / "book_results" / f"{chapter}.json"


def load(chapter: str, *, seeds: Sequence[int] | None = None) -> dict:
    """``chapter``'s results: from the working folder if it has them or the chapter, else the package's copy.

    The record has one more key, ``"source"``: ``"this run"`` or ``"shipped"``. Raises as ``results.load`` does,
    ``FileNotFoundError`` if the package has no copy, and ``results.StaleResultsError`` if the copy was made by other
    ``mtl_utils`` code or with other seeds.
    """
    if (results.results_dir() / f"{chapter}.json").exists() or (Path.cwd() / f"{chapter}.ipynb").exists():
        return {**results.load(chapter, seeds=seeds), "source": "this run"}
    path = shipped_path(chapter)
    if not path.is_file():
        raise FileNotFoundError(f"no results from chapter {chapter!r} here and none shipped with mtl_utils: run "
                                f"{chapter}.ipynb first, in the book's folder")
    record = json.loads(path.read_text(encoding="utf-8"))
    now = module_hashes()
    changed = [name for name, digest in record["mtl_utils_modules"].items() if now.get(name) != digest]
    if changed:
        raise results.StaleResultsError(f"the shipped results of {chapter!r} were made by other mtl_utils code "
                                        f"({', '.join(changed)} differ from the installed package): reinstall it, or "
                                        f"run {chapter}.ipynb")
    if seeds is not None and record["seeds"] != [int(s) for s in seeds]:
        raise results.StaleResultsError(f"the shipped results of {chapter!r} used seeds {record['seeds']}, not "
                                        f"{[int(s) for s in seeds]} (MTL_SEED_OFFSET differs): run {chapter}.ipynb")
    torch_version = torch.__version__.split("+")[0]
    note = "" if record["torch"] == torch_version else (
        f"made with torch {record['torch']}; this runtime has torch {torch_version}")
    return {**record, "source": "shipped", "note": note}
