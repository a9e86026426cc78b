"""Independent runs (seeds, configurations) side by side, in worker processes, so five seeds cost less than five fits.

Why processes and not one vectorized model: on the book's 2-core CPU, ``torch.func.vmap`` over 3 to 10 LeNets ran at
0.70-0.77x the speed of training them one after another, while two one-thread processes trained two runs in 6.2 s
against 11.2 s in turn (``bench/seeds_side_by_side.py`` measures it on your machine). A LeNet step is many small
kernels: a second thread in one process gains little, a second process doubles the work done.

The workers are forked, so they see the notebook's data and functions without copying or pickling them; only each
job's result travels back (pickled). Each worker trains with one thread (``MTL_THREADS=1``) and no progress bar, so a
job's result equals the same job run in this process with ``MTL_THREADS=1``. What a job prints is shown in job order
after it finishes. Jobs run here, in turn, when there is one job or one process, on a machine without ``fork``
(Windows, macOS), or when a GPU is available (a forked process cannot use the parent's GPU context, and on a GPU one
process is the fast path anyway).
"""
from __future__ import annotations

import dataclasses
import io
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any, TypeVar

import torch
from torch import nn
from tqdm.auto import tqdm

from ..optimization.weighting import Weighting
from .cache import train_or_load
from .data import TaskData
from .tasks import Task
from .train import History, fit, seed_everything

T = TypeVar("T")
R = TypeVar("R")


def default_processes(n_jobs: int) -> int:
    """How many workers to start for ``n_jobs`` jobs: ``$MTL_PROCESSES`` if set, else the usable cores, at most
    ``n_jobs``."""
    wanted = os.environ.get("MTL_PROCESSES")
    if wanted is not None:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"MTL_PROCESSES must be a positive integer, got {wanted!r}")
        cores = int(wanted)
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_jobs))


def _can_fork() -> bool:
    """Fork only on Linux without a GPU: forked workers cannot share a CUDA context, and one process per GPU is the
    fast path there."""
    return sys.platform.startswith("linux") and not torch.cuda.is_available()


def _run_job(fn: Callable[[T], R], item: T) -> tuple[bool, Any, str]:
    """Run one job with its printed output captured: ``(ok, result or traceback text, printed text)``."""
    printed = io.StringIO()
    try:
        with redirect_stdout(printed), redirect_stderr(printed):
            return True, fn(item), printed.getvalue()
    except Exception:
        return False, traceback.format_exc(), printed.getvalue()


def _worker(fn: Callable[[T], R], items: Sequence[T], todo, conn) -> None:
    os.environ["MTL_THREADS"] = "1"
    os.environ["MTL_PROGRESS"] = "0"
    torch.set_num_threads(1)
    while (index := todo.get()) is not None:
        ok, value, printed = _run_job(fn, items[index])
        try:
            payload = pickle.dumps((index, ok, value, printed), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # a result that cannot travel back is the job's error, not a silent hang
            payload = pickle.dumps((index, False, f"its result could not be sent back (pickled): {err!r}", printed))
        conn.send_bytes(payload)
    conn.close()


def side_by_side(fn: Callable[[T], R], items: Sequence[T], processes: int | None = None,
                 desc: str = "runs", progress: bool | None = None) -> list[R]:
    """``[fn(item) for item in items]``, with the jobs spread over worker processes; results in ``items``' order.

    ``fn`` may be any function of the notebook, a lambda included (workers are forked, nothing is pickled but the
    results). Each job should seed what it draws (``seed_everything``), as any reproducible run does. If a job
    raises, the others are stopped and a ``RuntimeError`` carries the job's traceback. ``processes`` defaults to
    ``default_processes(len(items))``. A progress bar counts finished jobs unless ``progress=False`` or
    ``MTL_PROGRESS=0``.
    """
    items = list(items)
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    if processes is not None and (not isinstance(processes, int) or processes < 1):
        raise ValueError(f"processes must be a positive int, got {processes!r}")
    processes = min(processes or default_processes(len(items)), max(len(items), 1))
    if progress is None:
        progress = os.environ.get("MTL_PROGRESS", "1") != "0"
    bar = tqdm(total=len(items), desc=desc, unit="run", disable=not progress, leave=False)
    try:
        if processes <= 1 or not _can_fork():
            results = []
            for item in items:
                results.append(fn(item))
                bar.update(1)
            return results
        return _in_workers(fn, items, processes, bar)
    finally:
        bar.close()


def _in_workers(fn: Callable[[T], R], items: list[T], processes: int, bar) -> list[R]:
    ctx = get_context("fork")
    todo = ctx.SimpleQueue()
    for index in range(len(items)):
        todo.put(index)
    for _ in range(processes):
        todo.put(None)
    sys.stdout.flush()
    sys.stderr.flush()
    workers, readers = [], []
    for _ in range(processes):
        reader, writer = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_worker, args=(fn, items, todo, writer), daemon=True)
        worker.start()
        writer.close()
        workers.append(worker)
        readers.append(reader)
    done: dict[int, tuple[Any, str]] = {}
    shown = 0
    try:
        open_readers = list(readers)
        while len(done) < len(items):
            ready = wait(open_readers + [w.sentinel for w in workers if w.exitcode is None], timeout=5)
            for conn in [r for r in ready if r in open_readers]:
                try:
                    index, ok, value, printed = pickle.loads(conn.recv_bytes())
                except EOFError:
                    open_readers.remove(conn)
                    continue
                if not ok:
                    sys.stdout.write(printed)
                    raise RuntimeError(f"job {items[index]!r} failed in a worker process:\n{value}")
                done[index] = (value, printed)
                bar.update(1)
                while shown in done:  # show what the jobs printed, in job order
                    sys.stdout.write(done[shown][1])
                    shown += 1
            if not ready or not open_readers:
                dead = [w for w in workers if w.exitcode not in (None, 0)]
                if dead or (not open_readers and len(done) < len(items)):
                    code = dead[0].exitcode if dead else 0
                    raise RuntimeError(f"a worker process stopped (exit code {code}) before its jobs finished; "
                                       "it may have run out of memory: try fewer processes (MTL_PROCESSES=1)")
        return [done[i][0] for i in range(len(items))]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for reader in readers:
            reader.close()
        todo.close()


def fit_seeds(build: Callable[[], nn.Module], tasks: Sequence[Task], train_data: TaskData | Mapping[str, TaskData],
              seeds: Sequence[int], *, make_weighting: Callable[[], Weighting] | None = None,
              cache: str | None = None, config: Mapping | None = None, processes: int | None = None,
              **fit_kwargs) -> list[tuple[nn.Module, History]]:
    """One configuration trained for each of ``seeds``, side by side: ``[(model, history), ...]`` in seed order.

    Each seed does what a single-seed run does: ``seed_everything(seed)``, ``model = build()``, then (if given)
    ``weighting = make_weighting()``, then ``fit(model, tasks, train_data, seed=seed, weighting=weighting,
    **fit_kwargs)``. So each model's weights are those of that single-seed run with ``MTL_THREADS=1``.

    With ``cache="name"`` and a ``config`` that names everything else that determines the weights, each seed goes
    through ``cache.train_or_load(name, {**config, "seed": seed}, ...)``: a seed trained here is found by a later
    single-seed ``train_or_load`` call with that configuration, and the reverse.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seeds}")
    if (cache is None) != (config is None):
        raise ValueError("pass cache= and config= together (the configuration is the cache key)")
    if "seed" in fit_kwargs or "weighting" in fit_kwargs:
        raise ValueError("fit_seeds sets seed= and weighting= itself; pass seeds= and make_weighting=")

    def one_seed(seed: int) -> tuple[nn.Module, History]:
        def seeded_build() -> nn.Module:
            seed_everything(seed)
            return build()

        def train(model: nn.Module) -> dict:
            weighting = make_weighting() if make_weighting is not None else None
            history = fit(model, tasks, train_data, seed=seed, weighting=weighting, **fit_kwargs)
            return dataclasses.asdict(history)

        if cache is None:
            model = seeded_build()
            return model, History(**train(model))
        model, info = train_or_load(cache, {**dict(config), "seed": seed}, seeded_build, train, verbose=False)
        return model, History(records=info["records"], step_weights=info["step_weights"])

    return side_by_side(one_seed, seeds, processes=processes, desc="seeds")


__all__ = ["default_processes", "side_by_side", "fit_seeds"]
