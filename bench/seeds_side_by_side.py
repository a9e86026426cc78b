"""Five seeds of chapter 4's hard-sharing run, trained side by side (``mtl_utils.foundations.parallel.fit_seeds``) against
sequential ``fit`` calls, in one run; prints the ratio of wall-clock times.

The sequential arm runs at ``--threads`` threads per ``fit`` (default: ``$MTL_THREADS``, else 1, the book's
default); the side-by-side arm runs ``--processes`` one-thread workers (default: the usable cores). The arms
alternate (side by side, sequential, side by side, ...) so that a change in the machine's load hits both; the last
line is ``ratio side-by-side/sequential = N.NN`` (median over the repetitions). With ``k`` workers and ``n`` equal
seeds, the floor is ``ceil(n / k) / n`` of one-thread sequential time: 0.60 for 5 seeds on 2 cores.

    MTL_DATA_DIR=/path/to/data python bench/seeds_side_by_side.py --reps 3
    MTL_DATA_DIR=/path/to/data python bench/seeds_side_by_side.py --steps 100   # a quick run
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import torch
from machine_info import cpu_model, load_average

from mtl_utils import (
    BOOK_RECIPE,
    HardSharingNet,
    TaskData,
    load_mnist,
    validation_split,
)
from mtl_utils.foundations.parallel import default_processes, fit_seeds
from mtl_utils.foundations.tasks import digit_task, parity_task

TASKS = [digit_task(), parity_task()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per arm (default 5)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of the pair of arms (default 1)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per seed (default: chapter 4's run, 5 epochs over 50,000 images)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("MTL_THREADS", "1")),
                        help="threads of each sequential fit (default $MTL_THREADS, else 1)")
    parser.add_argument("--processes", type=int, default=None, help="workers side by side (default: the cores)")
    args = parser.parse_args()
    if args.seeds < 1 or args.reps < 1 or (args.steps is not None and args.steps < 1) or args.threads < 1 \
            or (args.processes is not None and args.processes < 1):
        parser.error("--seeds, --reps, --steps, --threads and --processes must be positive")
    os.environ["MTL_PROGRESS"] = "0"
    mnist = load_mnist(verbose=False)
    train = TaskData.from_split(validation_split(mnist.train)[0], TASKS)
    recipe, steps_per_epoch = BOOK_RECIPE, None
    if args.steps is not None:  # one epoch of --steps steps: the same per-step work, a shorter schedule
        recipe, steps_per_epoch = replace(BOOK_RECIPE, epochs=1), args.steps
    seeds = list(range(args.seeds))
    processes = args.processes or default_processes(len(seeds))
    build = lambda: HardSharingNet.for_tasks(TASKS)  # noqa: E731

    def side_by_side() -> float:
        start = time.perf_counter()
        fit_seeds(build, TASKS, train, seeds, recipe=recipe, steps_per_epoch=steps_per_epoch, processes=processes)
        return time.perf_counter() - start

    def sequential() -> float:
        os.environ["MTL_THREADS"] = str(args.threads)
        try:
            start = time.perf_counter()
            fit_seeds(build, TASKS, train, seeds, recipe=recipe, steps_per_epoch=steps_per_epoch, processes=1)
            return time.perf_counter() - start
        finally:
            os.environ["MTL_THREADS"] = "1"

    print(f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}; load average {load_average():.2f}")
    print(f"{len(seeds)} seeds of hard sharing (digit + parity), "
          f"{'chapter 4 recipe' if args.steps is None else f'{args.steps} steps'}; side by side: {processes} "
          f"one-thread workers; sequential: {args.threads} thread(s)")
    ratios = []
    for rep in range(1, args.reps + 1):
        a, b = side_by_side(), sequential()
        ratios.append(a / b)
        print(f"rep {rep}: side by side {a:.1f} s, sequential {b:.1f} s, ratio {a / b:.2f}")
    print(f"load average after: {load_average():.2f}")
    print(f"ratio side-by-side/sequential = {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
