"""A fair benchmark of multi-task optimizers across the book's settings: ``python -m mtl_utils.benchmark``.

Every method runs on every setting (``mtl_utils.benchmark.settings``) under one protocol, written once in ``run``:

1. **Equal tuning compute.** Each method gets the same configurations' worth of training steps: ``len(lrs)``
   configurations × ``tune_seeds`` seeds × the setting's steps. For most methods a configuration is a peak learning
   rate of the grid (the method's own hyperparameters stay at their papers' defaults); the static grid draws its task
   weights at random, one draw per learning rate of the grid, so it searches weights and learning rate with the same
   budget. The single-task reference (one network per task, the denominator of Δm%) is tuned the same way.
2. **Selection on validation, by the mean over the tuning seeds**: the single-task learning rate per task by its
   validation metric, then each method's configuration by its validation Δm% against that reference, seed by seed.
3. **The test set once.** Only then is the test data loaded (``Setting.test_data``); every chosen configuration is
   trained for every seed (the tuning seeds' runs are reused) and scored on validation and test.

The result is a tidy table, one row per run: the setting, the method, the configuration, the seed, the phase
(``tuning`` or ``final``), the per-task metrics (``val:<task>``, ``test:<task>``), Δm% (``val Δm%``; ``Δm%`` on
test), the training steps and seconds. Runs are kept in ``<out>/models`` (``mtl_utils.foundations.cache.train_or_load``), so
``--resume`` continues an interrupted benchmark from what had finished, with the same results.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..evidence.stats import delta_m
from ..foundations.cache import source_hash, train_or_load
from ..foundations.mnist import write_atomic
from ..foundations.parallel import side_by_side
from ..foundations.tasks import Task
from ..foundations.train import Recipe, fit, seed_everything
from ..optimization import weighting as W
from ..optimization.torchjd_weighting import TorchJD
from .settings import SETTINGS, Loaded, Setting, Towers

__all__ = ["Method", "METHODS", "Protocol", "PROTOCOLS", "Config", "configurations", "SINGLE", "run", "main"]

SINGLE = "single-task"
NASH_EVERY = 5  # Nash-MTL solves its bargaining problem every 5th step and rescales the last solution between


@dataclass(frozen=True)
class Method:
    """A method: ``make(tasks, seed, steps)`` returns its ``Weighting`` (None: the plain sum). ``static`` methods
    draw fixed task weights as part of each configuration."""

    make: Callable[[Sequence[Task], int, int], W.Weighting | None]
    about: str
    static: bool = False


#: The methods, in the order of the tables. Gradient methods give each head its own gradient (``heads="own"``).
METHODS: dict[str, Method] = {
    "equal": Method(lambda tasks, seed, steps: None, "equal weights: the plain sum of the losses"),
    "static grid": Method(lambda tasks, seed, steps: None, "tuned static weights, drawn at random per configuration",
                          static=True),
    "uncertainty": Method(lambda tasks, seed, steps: W.Uncertainty(tasks), "Kendall et al. 2018"),
    "DWA": Method(lambda tasks, seed, steps: W.DWA(tasks, period=max(1, steps // 10)),
                  "Liu et al. 2019, a period of a tenth of the steps"),
    "GradNorm": Method(lambda tasks, seed, steps: W.GradNorm(tasks), "Chen et al. 2018, alpha = 1.5"),
    "RLW": Method(lambda tasks, seed, steps: TorchJD(tasks, "RLW"), "random loss weighting, Lin et al. 2022"),
    "FAMO": Method(lambda tasks, seed, steps: W.FAMO(tasks), "Liu et al. 2023"),
    "PCGrad": Method(lambda tasks, seed, steps: W.PCGrad(tasks, seed=seed, heads="own"), "Yu et al. 2020"),
    "MGDA-UB": Method(lambda tasks, seed, steps: W.MGDA(tasks, heads="own"), "Sener and Koltun 2018"),
    "CAGrad": Method(lambda tasks, seed, steps: W.CAGrad(tasks, heads="own"), "Liu et al. 2021, c = 0.4"),
    "IMTL-G": Method(lambda tasks, seed, steps: TorchJD(tasks, "IMTL-G", heads="own"), "Liu et al. 2021"),
    "Nash-MTL": Method(lambda tasks, seed, steps: TorchJD(tasks, "Nash-MTL", heads="own", every=NASH_EVERY),
                       f"Navon et al. 2022, weights solved every {NASH_EVERY} steps"),
    "UPGrad": Method(lambda tasks, seed, steps: TorchJD(tasks, "UPGrad", heads="own"), "Quinton and Rey 2024"),
    "Aligned-MTL": Method(lambda tasks, seed, steps: TorchJD(tasks, "Aligned-MTL", heads="own"),
                          "Senushkin et al. 2023"),
}


@dataclass(frozen=True)
class Protocol:
    """The tuning grid: peak learning rates (one-cycle Adam), tuning seeds, the static weights' range (a factor)."""

    lrs: tuple[float, ...] = (3e-3, 1e-2, 3e-2)
    tune_seeds: int = 2
    weight_range: float = 4.0
    seeds: int = 5


PROTOCOLS = {"quick": Protocol(), "full": Protocol(lrs=(1e-3, 3e-3, 1e-2, 3e-2, 1e-1), tune_seeds=3, seeds=10)}


@dataclass(frozen=True)
class Config:
    """One configuration: a peak learning rate and, for the static grid, the task weights."""

    lr: float
    weights: tuple[float, ...] | None = None

    @property
    def label(self) -> str:
        weights = "" if self.weights is None else ", w=" + "/".join(f"{w:.2f}" for w in self.weights)
        return f"lr={self.lr:g}{weights}"


def configurations(method: str, n_tasks: int, protocol: Protocol) -> list[Config]:
    """The configurations ``method`` is tuned over: one per learning rate of the grid. The static grid adds weights
    drawn log-uniformly within ``weight_range`` of 1 (then scaled to mean 1), from a fixed generator."""
    if method != SINGLE and not METHODS[method].static:
        return [Config(lr) for lr in protocol.lrs]
    if method == SINGLE:
        return [Config(lr) for lr in protocol.lrs]
    gen = torch.Generator().manual_seed(n_tasks)
    log_range = math.log(protocol.weight_range)
    configs = []
    for lr in protocol.lrs:
        w = torch.exp((2 * torch.rand(n_tasks, generator=gen, dtype=torch.float64) - 1) * log_range)
        configs.append(Config(lr, tuple(round(float(v), 4) for v in w / w.mean())))
    return configs


# --- one run ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    setting: str
    method: str
    config: Config
    seed: int


def _train(job: _Job, setting: Setting, loaded: Loaded, mode: str, device: str | None, root: Path
           ) -> tuple[nn.Module, dict]:
    """Train (or load from ``root``) one run; return the model and ``{seconds, steps, val}``."""
    size = setting.sizes[mode]
    single = job.method == SINGLE
    tasks = loaded.scored if single else loaded.tasks

    def build() -> nn.Module:
        seed_everything(job.seed)
        return Towers(tasks, setting.build) if single else setting.build(tasks)

    def train(model: nn.Module) -> dict:
        weighting = None if single else METHODS[job.method].make(tasks, job.seed, size.steps)
        weights = None if job.config.weights is None else dict(zip([t.name for t in tasks], job.config.weights))
        history = fit(model, tasks, loaded.train, weights=weights, weighting=weighting, seed=job.seed,
                      recipe=Recipe(epochs=1, batch_size=size.batch_size, lr=job.config.lr),
                      steps_per_epoch=size.steps, device=device, progress=False)
        return {"seconds": history.seconds, "steps": size.steps,
                "val": setting.score(model, loaded.scored, loaded.val)}

    key = {"setting": job.setting, "method": job.method, "config": asdict(job.config), "seed": job.seed,
           "size": asdict(size), "device": str(device)}
    name = "bench-" + "-".join("".join(c if c.isalnum() else "_" for c in part) for part in (job.setting, job.method))
    return train_or_load(name, key, build, train, root=root, verbose=False)


# --- the protocol ----------------------------------------------------------------------------------------------------

def _check(settings: Sequence[str], methods: Sequence[str], seeds: Sequence[int], mode: str) -> None:
    for kind, names, known in (("setting", settings, SETTINGS), ("method", methods, METHODS)):
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise ValueError(f"unknown {kind} {unknown[0] if unknown else '(none given)'!r}; choose from "
                             f"{', '.join(known)}")
    if mode not in PROTOCOLS:
        raise ValueError(f"unknown mode {mode!r}; use 'quick' or 'full'")
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least 2 distinct seeds (the intervals are over seeds), got {list(seeds)}")


def _best(means: dict[int, float], lower: bool) -> int:
    return min(means, key=means.get) if lower else max(means, key=means.get)


def run(settings: Sequence[str] | None = None, methods: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None, mode: str = "quick", device: str | None = None,
        out: str | os.PathLike | None = None, resume: bool = False, processes: int | None = None) -> pd.DataFrame:
    """Run the benchmark; return the tidy table of runs (and write ``<out>/runs.csv`` when ``out`` is given).

    ``settings`` and ``methods`` default to all but the test setting ``tiny``; ``seeds`` to ``mode``'s number of
    seeds from 0. ``out`` keeps every trained run in ``<out>/models``; an ``out`` that already holds runs needs
    ``resume=True``, which reuses them. ``processes`` is passed to ``mtl_utils.foundations.parallel.side_by_side``.
    """
    protocol = PROTOCOLS.get(mode, Protocol())
    settings = list(settings or [s for s in SETTINGS if s != "tiny"])
    methods = list(methods or METHODS)
    seeds = [int(s) for s in (range(protocol.seeds) if seeds is None else seeds)]
    _check(settings, methods, seeds, mode)
    if out is None:
        with tempfile.TemporaryDirectory() as tmp:
            return _run(settings, methods, seeds, mode, device, Path(tmp), processes)
    out = Path(out)
    if not resume and (out / "models").is_dir() and any((out / "models").iterdir()):
        raise ValueError(f"{out} already holds runs: pass --resume (resume=True) to continue them, or another --out")
    runs = _run(settings, methods, seeds, mode, device, out / "models", processes)
    write_atomic(out / "runs.csv", runs.to_csv(index=False).encode())
    return runs


def _run(settings: list[str], methods: list[str], seeds: list[int], mode: str, device: str | None, root: Path,
         processes: int | None) -> pd.DataFrame:
    protocol = PROTOCOLS[mode]
    # The runs are keyed by the mtl_utils source (train_or_load); hashing it here, before the workers are forked,
    # keeps one key for the whole benchmark even if a file of the package is edited while it runs.
    source_hash()
    loaded = {name: SETTINGS[name].load(SETTINGS[name].sizes[mode]) for name in settings}
    tune = seeds[:protocol.tune_seeds]
    arms = [SINGLE, *methods]

    def tuning_job(job: _Job) -> dict:
        _, info = _train(job, SETTINGS[job.setting], loaded[job.setting], mode, device, root)
        return info

    jobs = [_Job(s, m, c, seed) for s in settings for m in arms
            for c in configurations(m, len(loaded[s].tasks), protocol) for seed in tune]
    tuned = dict(zip(jobs, side_by_side(tuning_job, jobs, processes=processes, desc="tuning")))

    # Selection, on validation only: the reference per task, then each method's configuration.
    chosen: dict[tuple[str, str], Config] = {}
    reference: dict[tuple[str, str], Config] = {}
    for s in settings:
        setting, configs = SETTINGS[s], configurations(SINGLE, 0, protocol)
        for t in loaded[s].scored:
            means = {i: np.mean([tuned[_Job(s, SINGLE, c, seed)]["val"][t.name] for seed in tune])
                     for i, c in enumerate(configs)}
            reference[s, t.name] = configs[_best(means, t.name in setting.lower_is_better)]
    val_single = {(s, seed): {t.name: tuned[_Job(s, SINGLE, reference[s, t.name], seed)]["val"][t.name]
                              for t in loaded[s].scored} for s in settings for seed in tune}

    def val_dm(job: _Job, info: dict) -> float:
        return delta_m(info["val"], val_single[job.setting, job.seed], SETTINGS[job.setting].lower_is_better)

    for s in settings:
        for m in methods:
            configs = configurations(m, len(loaded[s].tasks), protocol)
            means = {i: np.mean([val_dm(_Job(s, m, c, seed), tuned[_Job(s, m, c, seed)]) for seed in tune])
                     for i, c in enumerate(configs)}
            chosen[s, m] = configs[_best(means, lower=False)]

    # The test set, once: loaded now, every chosen configuration scored for every seed.
    test = {s: SETTINGS[s].test_data(SETTINGS[s].sizes[mode]) for s in settings}
    final_jobs = [_Job(s, m, chosen[s, m], seed) for s in settings for m in methods for seed in seeds]
    final_jobs += [_Job(s, SINGLE, c, seed) for s in settings
                   for c in dict.fromkeys(reference[s, t.name] for t in loaded[s].scored) for seed in seeds]

    def final_job(job: _Job) -> dict:
        setting = SETTINGS[job.setting]
        model, info = _train(job, setting, loaded[job.setting], mode, device, root)
        return {**info, "test": setting.score(model, loaded[job.setting].scored, test[job.setting])}

    final = dict(zip(final_jobs, side_by_side(final_job, final_jobs, processes=processes, desc="final")))
    return _table(settings, methods, seeds, tune, loaded, tuned, final, chosen, reference, val_single, val_dm)


def _table(settings, methods, seeds, tune, loaded, tuned, final, chosen, reference, val_single, val_dm
           ) -> pd.DataFrame:
    """The tidy table: tuning runs, then the final runs and the single-task reference, one row per run."""
    rows = []
    for job, info in tuned.items():
        row = {"setting": job.setting, "method": job.method, "phase": "tuning", "config": job.config.label,
               "lr": job.config.lr, "seed": job.seed,
               "chosen": job.config == (chosen.get((job.setting, job.method)) if job.method != SINGLE else None),
               **{f"val:{k}": v for k, v in info["val"].items()},
               "val Δm%": np.nan if job.method == SINGLE else val_dm(job, info),
               "steps": info["steps"], "seconds": info["seconds"]}
        rows.append(row)
    for s in settings:
        lower = SETTINGS[s].lower_is_better
        for seed in seeds:
            ref = {t.name: final[_Job(s, SINGLE, reference[s, t.name], seed)] for t in loaded[s].scored}
            ref_val = {name: info["val"][name] for name, info in ref.items()}
            ref_test = {name: info["test"][name] for name, info in ref.items()}
            rows.append({"setting": s, "method": SINGLE, "phase": "final", "seed": seed, "chosen": True,
                         "config": "; ".join(f"{k}: {reference[s, k].label}" for k in ref),
                         **{f"val:{k}": v for k, v in ref_val.items()}, **{f"test:{k}": v for k, v in ref_test.items()},
                         "val Δm%": 0.0, "Δm%": 0.0, "steps": next(iter(ref.values()))["steps"],
                         "seconds": float(np.mean([info["seconds"] for info in ref.values()]))})
            for m in methods:
                job = _Job(s, m, chosen[s, m], seed)
                info = final[job]
                rows.append({"setting": s, "method": m, "phase": "final", "config": job.config.label,
                             "lr": job.config.lr, "seed": seed, "chosen": True,
                             **{f"val:{k}": v for k, v in info["val"].items()},
                             **{f"test:{k}": v for k, v in info["test"].items()},
                             "val Δm%": delta_m(info["val"], ref_val, lower), "Δm%": delta_m(info["test"], ref_test, lower),
                             "steps": info["steps"], "seconds": info["seconds"]})
    runs = pd.DataFrame(rows)
    runs["ms/step"] = 1000 * runs["seconds"] / runs["steps"]
    return runs


# --- the command line ------------------------------------------------------------------------------------------------

def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    """The command line's options, each explained by ``--help``."""
    p = argparse.ArgumentParser(
        prog="python -m mtl_utils.benchmark",
        description="Run multi-task optimizers on the book's settings under one protocol: the same tuning compute "
                    "(in training steps) per method, the learning rate tuned per method, every choice on the "
                    "validation split by the mean over seeds, the test set scored once. Writes one row per run.",
        epilog="Example: python -m mtl_utils.benchmark --quick --settings mmoe --methods equal,UPGrad --seeds 5")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="the reduced sizes the book's chapter runs (the default): tiny networks, at most 100 steps, "
                           "3 learning rates, 2 tuning seeds, 5 seeds")
    size.add_argument("--full", action="store_true",
                      help="larger training sets and longer schedules, 5 learning rates, 3 tuning seeds, 10 seeds "
                           "(hours on a CPU; a GPU helps)")
    p.add_argument("--settings", type=_names, default=None, metavar="A,B",
                   help=f"comma-separated settings (default: all but 'tiny'): {', '.join(SETTINGS)}")
    p.add_argument("--methods", type=_names, default=None, metavar="A,B",
                   help=f"comma-separated methods (default: all): {', '.join(METHODS)}")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="number of seeds, at least 2 (default: 5 with --quick, 10 with --full); the first "
                        "2 (3 with --full) tune, and MTL_SEED_OFFSET shifts them all")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="where to train: cpu, cuda, mps (default: the best available)")
    p.add_argument("--out", default="benchmark-results", metavar="DIR",
                   help="folder for runs.csv (one row per run) and the trained runs in DIR/models "
                        "(default: benchmark-results)")
    p.add_argument("--resume", action="store_true",
                   help="continue the benchmark in --out: runs that finished are loaded, not trained again")
    p.add_argument("--processes", type=int, default=None, metavar="N",
                   help="worker processes on a CPU (default: $MTL_PROCESSES or the number of cores)")
    p.add_argument("--list", action="store_true", help="list the settings and methods, then exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: parse, run, write ``<out>/runs.csv`` and print the mean test Δm% per method and setting.

    A progress bar counts the runs (``MTL_PROGRESS=0`` turns it off)."""
    p = parser()
    args = p.parse_args(argv)
    if args.list:
        for kind, table in (("settings", SETTINGS), ("methods", METHODS)):
            print(f"{kind}:")
            for name, item in table.items():
                print(f"  {name:12s} {item.about}")
        return 0
    mode = "full" if args.full else "quick"
    if args.seeds is not None and args.seeds < 2:
        p.error(f"--seeds must be at least 2 (the intervals are over seeds), got {args.seeds}")
    if args.processes is not None and args.processes < 1:
        p.error(f"--processes must be at least 1, got {args.processes}")
    offset = int(os.environ.get("MTL_SEED_OFFSET", "0"))
    seeds = None if args.seeds is None else list(range(offset, offset + args.seeds))
    try:
        runs = run(args.settings, args.methods, seeds, mode, args.device, args.out, args.resume, args.processes)
    except ValueError as err:
        p.error(str(err))
    final = runs[(runs.phase == "final") & (runs.method != SINGLE)]
    table = final.pivot_table(index="method", columns="setting", values="Δm%", sort=False)
    print(f"mean test Δm% over {len(runs.seed.unique())} seeds (positive: better than single-task):")
    print(table.round(2).to_string())
    print(f"{len(runs)} rows written to {Path(args.out) / 'runs.csv'}")
    return 0

