"""Run-time budget of the book: execute each notebook in a fresh kernel and tabulate the seconds.

Notebooks run as ``jupyter-execute`` runs them (nbclient, one new kernel each, working directory = the notebook's
folder, ``MTL_PROGRESS=0``), in book order, against a fresh, empty model cache (``MTL_MODEL_CACHE`` points at a
new temporary folder unless ``--warm``), as a fresh CI machine runs them. They are written back only with
``--inplace``, which authors use to refresh the committed outputs and measure the budget in one pass. Prints a
markdown table (notebook, seconds, its budget, within it?) with the total and the machine, and writes it to
``--out`` if given. ``--cores N`` pins this process, and so every kernel and worker it starts, to the first ``N`` of
its CPU cores: ``--cores 1`` measures what a one-core machine (Colab's CPU runtime runs the book on one busy core at
best) takes, with ``side_by_side`` running its jobs one after another. The budgets are for 2 cores.

    MTL_DATA_DIR=/path/to/data python bench/book_budget.py                 # every book/*.ipynb
    MTL_DATA_DIR=/path/to/data python bench/book_budget.py book/01_why_multitask.ipynb --out budget.md
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from machine_info import cpu_model, load_average
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
PER_NOTEBOOK_S, BOOK_S = 150, 2400  # the book's budgets on 2 CPU cores, from an empty model cache (developers' guide)
SPECIAL_S = {"07_task_weighting.ipynb": 180, "08_conflicting_gradients.ipynb": 180,  # the weighting chapters
             "10_multimnist.ipynb": 300,  # MultiMNIST: two protocols, five seeds
             "13_dense_prediction.ipynb": 240,  # dense prediction: three tasks per pixel, five seeds
             "15_optimizer_benchmark.ipynb": 360,  # fourteen methods on five settings, five seeds
             "16_when_mtl_pays_off.ipynb": 60}  # the closing chapter only reads results


def budget(path: Path) -> int:
    return SPECIAL_S.get(path.name, PER_NOTEBOOK_S)


def execute(path: Path, timeout: int, inplace: bool = False) -> tuple[float, str]:
    """Seconds to execute ``path`` in a fresh kernel, and "ok" or the error's last line; saved if ``inplace``."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        status = "ok"
        if inplace:
            nbformat.write(nb, path)
    except Exception as err:  # report the failure in the table and go on with the next notebook
        last = (re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines() or [type(err).__name__])[-1]
        status = "failed: " + last.replace("|", "/")[:80]
    return time.perf_counter() - start, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: every book/*.ipynb)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--inplace", action="store_true", help="write the executed notebooks back (fresh outputs)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--warm", action="store_true", help="keep the current model cache (default: an empty one)")
    parser.add_argument("--cores", type=int, help="run on the first N usable CPU cores only (default: all)")
    args = parser.parse_args()
    usable = sorted(os.sched_getaffinity(0))
    if args.cores is not None:
        if not 1 <= args.cores <= len(usable):
            parser.error(f"--cores must be between 1 and {len(usable)}, got {args.cores}")
        os.sched_setaffinity(0, usable[:args.cores])  # the kernels and their workers inherit it
    paths = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        parser.error(f"no such notebook(s): {missing}" if missing else "no notebooks found in book/")
    os.environ["MTL_PROGRESS"] = "0"  # the kernels inherit it
    cold = None if args.warm else tempfile.TemporaryDirectory(prefix="mtl-models-")
    if cold is not None:
        os.environ["MTL_MODEL_CACHE"] = cold.name
    load_before = load_average()
    rows, total, failed = [], 0.0, False
    for path in paths:
        seconds, status = execute(path.resolve(), args.timeout, args.inplace)
        total += seconds
        failed |= status != "ok"
        verdict = status if status != "ok" else ("yes" if seconds <= budget(path) else "no")
        rows.append(f"| {path.name} | {seconds:.1f} | {budget(path)} | {verdict} |")
        print(rows[-1], file=sys.stderr, flush=True)
    cores = len(os.sched_getaffinity(0))
    table = "\n".join([
        "| notebook | seconds | budget (s) | within it |",
        "|---|---:|---:|:---:|",
        *rows,
        f"| **total** | **{total:.1f}** | {BOOK_S} | {'yes' if total <= BOOK_S else 'no'} |",
        "",
        f"Measured on {cpu_model()}, {cores} core{'s' if cores != 1 else ''}, torch {torch.__version__}, Python "
        f"{platform.python_version()}; load average {load_before:.2f} before and {load_average():.2f} after.",
    ])
    print(table)
    if cold is not None:
        cold.cleanup()
    if args.out:
        args.out.write_text(table + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
