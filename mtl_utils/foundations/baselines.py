"""The book's reference networks, trained once and shared by chapters: one net per task, and one hard-sharing net.

Chapter 3 trains the single-task baselines, chapter 4 compares hard sharing with them, and later chapters use them
as references and teachers. Each call goes through ``cache.train_or_load`` with a configuration that names
everything that determines the weights (tasks, width, recipe, seed, training data), so a second chapter that asks
for the same network loads it instead of training it again.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence

from torch import nn

from .cache import train_or_load
from .cost import count_parameters
from .data import TaskData
from .losses import check_weights
from .models import HardSharingNet, SingleTaskNet
from .tasks import Task, check_tasks
from .train import BOOK_RECIPE, Recipe, evaluate, fit, seed_everything


def data_fingerprint(data: TaskData, names: Sequence[str]) -> str:
    """A short hash of the images and the named targets: two training sets with equal size but other images differ."""
    h = hashlib.sha256(data.images.contiguous().numpy().tobytes())
    for name in sorted(names):
        h.update(name.encode())
        h.update(data.targets[name].contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _check_data(tasks: Sequence[Task], train: TaskData, test: TaskData) -> None:
    for label, d in (("train", train), ("test", test)):
        if not isinstance(d, TaskData):
            raise ValueError(f"{label} must be a TaskData, got {type(d).__name__}")
        missing = [t.name for t in tasks if t.name not in d.targets]
        if missing:
            raise ValueError(f"{label} data has no targets for task(s) {missing}; it has {list(d.targets)}")
        if len(d) == 0:
            raise ValueError(f"{label} data is empty")


def _run(name: str, config: dict, build, tasks: list[Task], train: TaskData, test: TaskData,
         weights: Mapping[str, float] | None, recipe: Recipe, seed: int, verbose: bool) -> tuple[nn.Module, dict]:
    def train_model(model: nn.Module) -> dict:
        history = fit(model, tasks, train, weights=weights, recipe=recipe, seed=seed, progress=None)
        return {"seconds": history.seconds, "test": evaluate(model, tasks, test),
                "parameters": count_parameters(model), "history": history.records}

    def seeded_build() -> nn.Module:
        seed_everything(seed)
        return build()

    return train_or_load(name, config, seeded_build, train_model, verbose=verbose)


def single_task_baseline(task: Task, train: TaskData, test: TaskData, recipe: Recipe = BOOK_RECIPE, seed: int = 0,
                         width: float = 1.0, verbose: bool = True) -> tuple[SingleTaskNet, dict]:
    """One ``SingleTaskNet`` for ``task``, trained on ``train`` (or loaded from the cache), scored on ``test``.

    Returns ``(model, info)`` with ``info`` holding ``seconds`` (training time of the run that made the weights),
    ``test`` (``{task: metric}``), ``parameters``, ``history`` (per-epoch records) and ``cached``.
    """
    (task,) = check_tasks([task])
    _check_data([task], train, test)
    config = {"model": "SingleTaskNet", "task": task.name, "width": float(width),
              "recipe": dataclasses.asdict(recipe), "seed": seed, "n_train": len(train),
              "data": data_fingerprint(train, [task.name])}
    return _run(f"single-{task.name}", config, lambda: SingleTaskNet(task, width), [task], train, test, None,
                recipe, seed, verbose)


def hard_sharing_model(tasks: Sequence[Task], train: TaskData, test: TaskData,
                       weights: Mapping[str, float] | None = None, recipe: Recipe = BOOK_RECIPE, seed: int = 0,
                       width: float = 1.0, verbose: bool = True) -> tuple[HardSharingNet, dict]:
    """A ``HardSharingNet`` for ``tasks`` trained on Σ α_t L_t (``weights``, default all 1), or loaded from the cache.

    Returns ``(model, info)`` like ``single_task_baseline``; ``info["test"]`` has one metric per task.
    """
    tasks = check_tasks(tasks)
    names = [t.name for t in tasks]
    weights = check_weights(weights, names)
    _check_data(tasks, train, test)
    config = {"model": "HardSharingNet", "tasks": names, "weights": {k: float(v) for k, v in weights.items()},
              "width": float(width), "recipe": dataclasses.asdict(recipe), "seed": seed, "n_train": len(train),
              "data": data_fingerprint(train, names)}
    return _run("hard-" + "-".join(names), config, lambda: HardSharingNet.for_tasks(tasks, width), tasks, train,
                test, weights, recipe, seed, verbose)


__all__ = ["data_fingerprint", "single_task_baseline", "hard_sharing_model"]
