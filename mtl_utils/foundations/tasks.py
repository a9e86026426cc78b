"""A task is an input space, an output space and an objective; ``Task`` writes that down in code.

The input space is shared (MNIST images). A task adds its output size, the function that labels an image, the loss
that trains it and the metric that scores it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import data

LabelFn = Callable[[data.Split], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MetricFn = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the target class."""
    return (logits.argmax(dim=1) == target).float().mean().item()


def mse_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error for a one-output regression head (output ``[B, 1]``, target ``[B]``)."""
    return F.mse_loss(output.squeeze(1), target.float())


def r2_score(output: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination: 1 is perfect, 0 is no better than predicting the mean."""
    target = target.float()
    residual = (output.squeeze(1) - target).pow(2).sum()
    total = (target - target.mean()).pow(2).sum().clamp_min(1e-12)
    return (1 - residual / total).item()


@dataclass(frozen=True)
class Task:
    """One task: ``name``, ``num_outputs`` (head width), ``label_fn``, ``loss``, ``metric`` (higher is better)."""

    name: str
    num_outputs: int
    label_fn: LabelFn
    loss: LossFn = F.cross_entropy
    metric: MetricFn = accuracy
    metric_name: str = "accuracy"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"task name must be a non-empty identifier string, got {self.name!r}")
        if not isinstance(self.num_outputs, int) or self.num_outputs < 1:
            raise ValueError(f"task {self.name!r}: num_outputs must be a positive int, got {self.num_outputs!r}")
        for attr in ("label_fn", "loss", "metric"):
            if not callable(getattr(self, attr)):
                raise ValueError(f"task {self.name!r}: {attr} must be callable, got {getattr(self, attr)!r}")


def check_tasks(tasks: Sequence[Task]) -> list[Task]:
    """Validate a task list: non-empty, only ``Task`` objects, unique names. Returns it as a list."""
    tasks = list(tasks)
    if not tasks:
        raise ValueError("need at least one task")
    for t in tasks:
        if not isinstance(t, Task):
            raise ValueError(f"expected Task objects, got {type(t).__name__}")
    names = [t.name for t in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate task names: {duplicates}")
    return tasks


def digit_task() -> Task:
    """Classify the digit: 10 classes, cross-entropy, accuracy."""
    return Task("digit", 10, data.digit)


def parity_task() -> Task:
    """Classify parity: 2 classes (1 = even), cross-entropy, accuracy."""
    return Task("parity", 2, data.parity)


def ink_task() -> Task:
    """Regress ink mass (mean intensity, 0–1): one output, squared error, R²."""
    return Task("ink", 1, data.ink_mass, loss=mse_loss, metric=r2_score, metric_name="r2")


def stroke_task() -> Task:
    """Regress the stroke width in pixels (``data.stroke_width``): one output, squared error, R²."""
    return Task("stroke", 1, data.stroke_width, loss=mse_loss, metric=r2_score, metric_name="r2")
