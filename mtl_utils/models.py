"""The article's LeNet trunk and the networks built from it: single-task and hard parameter sharing.

Every network returns a dict ``{task_name: output}``, so training code never has to know how many heads there are.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .tasks import Task


class LeNetTrunk(nn.Module):
    """conv 1→6 (5×5), max-pool 2, conv 6→16 (5×5), max-pool 2, fc 256→120, fc 120→84, ReLU after each.

    ``width`` scales every layer's channels/units (1.0 is the article's net), e.g. 0.5 for a smaller student.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        c1, c2, f1, f2 = (max(1, round(k * width)) for k in (6, 16, 120, 84))
        self.out_features = f2
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * 4 * 4, f1), nn.ReLU(),
            nn.Linear(f1, f2), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class SingleTaskNet(nn.Module):
    """One trunk and one linear head: the "one model per task" baseline."""

    def __init__(self, task: Task, width: float = 1.0) -> None:
        super().__init__()
        self.task_name = task.name
        self.trunk = LeNetTrunk(width)
        self.head = nn.Linear(self.trunk.out_features, task.num_outputs)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.task_name: self.head(self.trunk(x))}


class HardSharingNet(nn.Module):
    """Hard parameter sharing: one trunk used by every task, plus a head per task."""

    def __init__(self, trunk: nn.Module, heads: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not heads:
            raise ValueError("HardSharingNet needs at least one head")
        self.trunk = trunk
        self.heads = nn.ModuleDict(dict(heads))

    @classmethod
    def for_tasks(cls, tasks: Sequence[Task], width: float = 1.0) -> "HardSharingNet":
        """A LeNet trunk with one linear head per task, sized by ``task.num_outputs``."""
        trunk = LeNetTrunk(width)
        return cls(trunk, {t.name: nn.Linear(trunk.out_features, t.num_outputs) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: head(z) for name, head in self.heads.items()}
