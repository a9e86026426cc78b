"""Each chapter's headline results on disk, so that the closing chapter reads them instead of copying numbers.

A chapter ends with ``save("07_task_weighting", results, config=..., seeds=...)``: one small JSON file per chapter in
``results_dir()``, with the configuration, the seeds, the torch version, a hash of each ``mtl_utils`` module the
chapter had imported and a hash of the chapter's code cells. ``load`` refuses a file that is missing or stale (made by
other ``mtl_utils`` code, by an edited chapter, or with other seeds) with an error that says which notebook to run, so
the closing chapter can never show an old number silently. Editing a module the chapter never imported, or adding a
new one, does not make its results stale: that code cannot have made them. (The chapters import what they use at the
top; the worker processes of ``mtl_utils.foundations.parallel`` are forked from the chapter's process, with its modules.)
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..foundations.cache import PACKAGE_DIR, module_hashes
from ..foundations.mnist import write_atomic


class StaleResultsError(RuntimeError):
    """A chapter's results file exists but was made by other code, another version of the chapter, or other seeds."""


def results_dir() -> Path:
    """``$MTL_RESULTS_DIR`` if set, else ``results/`` in the working directory (the notebooks' folder, ``book/``)."""
    override = os.environ.get("MTL_RESULTS_DIR")
    return Path(override) if override else Path.cwd() / "results"


def notebook_hash(path: Path) -> str:
    """A hash of a notebook's code cells (their sources, in order): outputs and prose do not change it."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    h = hashlib.sha256()
    for cell in cells:
        if cell["cell_type"] == "code":
            source = cell["source"]
            h.update(("".join(source) if isinstance(source, list) else source).encode() + b"\0")
    return h.hexdigest()[:16]


def loaded_module_hashes() -> dict[str, str]:
    """The hash of each ``mtl_utils`` module this process has imported (by its path in the package, ``"train.py"``)."""
    now = module_hashes()
    loaded = set()
    for module in list(sys.modules.values()):
        path = Path(getattr(module, "__file__", None) or "/").resolve()
        if path.is_relative_to(PACKAGE_DIR):
            loaded.add(path.relative_to(PACKAGE_DIR).as_posix())
    return {name: now[name] for name in sorted(loaded) if name in now}


def _check_name(chapter: str) -> None:
    if not chapter or Path(chapter).name != chapter or chapter.endswith(".ipynb"):
        raise ValueError(f"chapter must be a notebook's name without folder or suffix, e.g. '07_task_weighting'; "
                         f"got {chapter!r}")


def save(chapter: str, results: Mapping, *, config: Mapping, seeds: Sequence[int],
         notebook_dir: Path | None = None) -> Path:
    """Write ``chapter``'s results (JSON-serializable) with its configuration and seeds; return the file's path.

    The hash of ``<notebook_dir>/<chapter>.ipynb`` (the working directory by default, where Jupyter runs a notebook)
    is recorded when that file exists, so that ``load`` can tell when the chapter's code changed since.
    """
    _check_name(chapter)
    if not results:
        raise ValueError(f"no results to save for {chapter!r}")
    notebook = Path(notebook_dir or Path.cwd()) / f"{chapter}.ipynb"
    record = {"chapter": chapter, "results": results, "config": config, "seeds": [int(s) for s in seeds],
              "mtl_utils_modules": loaded_module_hashes(), "torch": torch.__version__.split("+")[0],
              "notebook": notebook_hash(notebook) if notebook.exists() else None,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        text = json.dumps(record, indent=1, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"results of {chapter!r} must be JSON-serializable finite numbers, lists and dicts: {err}")
    path = results_dir() / f"{chapter}.json"
    write_atomic(path, text.encode())
    path.chmod(0o644)  # a file to share and commit, not a private temporary one
    return path


def load(chapter: str, *, seeds: Sequence[int] | None = None, notebook_dir: Path | None = None) -> dict:
    """The record ``save`` wrote for ``chapter``, after checking that it is current; raise otherwise.

    Current means: made by the present version of every ``mtl_utils`` module the chapter had imported (others do not
    count), with this torch version, by the chapter's present code (``<notebook_dir>/<chapter>.ipynb``, in the
    working directory by default, must exist) and, if ``seeds`` is given, with those seeds.
    """
    _check_name(chapter)
    path = results_dir() / f"{chapter}.json"
    rerun = f"run the notebook {chapter}.ipynb first (for example `make execute NB=book/{chapter}.ipynb`)"
    if not path.exists():
        raise FileNotFoundError(f"no results from chapter {chapter!r} in {path.parent.name}/: {rerun}")
    record = json.loads(path.read_text(encoding="utf-8"))
    made_by, now = record.get("mtl_utils_modules"), module_hashes()
    changed = [name for name, digest in made_by.items() if now.get(name) != digest] if made_by else ["all of it"]
    if changed:
        raise StaleResultsError(f"the results of {chapter!r} were made by other mtl_utils code ({', '.join(changed)} "
                                f"changed or removed since): {rerun}")
    torch_version = torch.__version__.split("+")[0]
    if record.get("torch") != torch_version:
        raise StaleResultsError(f"the results of {chapter!r} were made with torch {record.get('torch')}, this is "
                                f"torch {torch_version}: {rerun}")
    notebook = Path(notebook_dir or Path.cwd()) / f"{chapter}.ipynb"
    if not notebook.exists():
        raise FileNotFoundError(f"{chapter}.ipynb is not in the folder {notebook.parent.name}/, so its results cannot "
                                "be checked against its code: run from the book's folder, where the chapters are")
    if record.get("notebook") != notebook_hash(notebook):
        raise StaleResultsError(f"{chapter}.ipynb has changed since its results were saved (or they were saved "
                                f"away from it): {rerun}")
    if seeds is not None and record.get("seeds") != [int(s) for s in seeds]:
        raise StaleResultsError(f"the results of {chapter!r} used seeds {record.get('seeds')}, not "
                                f"{[int(s) for s in seeds]} (MTL_SEED_OFFSET differs): {rerun}")
    return record
