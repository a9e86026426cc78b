"""Sener & Koltun (2018)'s multi-LeNet, the network that MultiMNIST results in the literature are reported with.

A shared encoder (conv 1→10 5×5, max-pool, ReLU; conv 10→20 5×5, max-pool, ReLU; flatten 320 → fc 50, ReLU) and
one head per task (fc 50→50, ReLU, fc 50→10). With one task it is the single-task network of the same paper: the
same encoder with a single head.

One difference from their code, on purpose: no dropout. Their encoder multiplies the second convolution's output by
a random 0/1 mask per channel (one mask for the whole batch) and each head multiplies its hidden layer by a 0/1 mask
per unit and image, both with probability 0.5 and without the usual 1/(1 − p) rescaling. That regularizes a 100-epoch run; the
book trains for a few epochs, where dropout mostly slows learning down. Introduced in chapter 10.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..foundations.models import HardSharingNet, MaxPool2x2
from ..foundations.tasks import Task, check_tasks

__all__ = ["MultiLeNetTrunk", "multilenet_head", "MultiLeNet"]


class MultiLeNetTrunk(nn.Module):
    """The shared encoder: conv 1→10 (5×5), max-pool 2, ReLU; conv 10→20 (5×5), max-pool 2, ReLU; fc 320→50, ReLU.

    For 28×28 inputs the second block leaves 20 maps of 4×4, the 320 features of the paper's flatten layer.
    Pooling uses ``MaxPool2x2``, ``nn.MaxPool2d(2)`` made faster on a CPU.
    """

    out_features = 50

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 10, 5), MaxPool2x2(), nn.ReLU(),
            nn.Conv2d(10, 20, 5), MaxPool2x2(), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(320, self.out_features), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3:] != (1, 28, 28):
            raise ValueError(f"MultiLeNetTrunk expects images [B, 1, 28, 28], got {tuple(x.shape)}")
        return self.features(x)


def multilenet_head(num_outputs: int = 10) -> nn.Sequential:
    """One task's head: fc 50→50, ReLU, fc 50→``num_outputs``."""
    if not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"num_outputs must be a positive int, got {num_outputs!r}")
    width = MultiLeNetTrunk.out_features
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, num_outputs))


class MultiLeNet(HardSharingNet):
    """The multi-LeNet: one ``MultiLeNetTrunk`` shared by every task, one ``multilenet_head`` per task.

    ``forward`` returns ``{task_name: logits}``, so ``mtl_utils.fit`` trains it like any other network of the book.
    Given a single task it is the single-task baseline (the same encoder and one head). ``shared_parameters()`` (the
    trunk's) is where gradient-based weighting methods compare the tasks' gradients.
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        tasks = check_tasks(tasks)
        super().__init__(MultiLeNetTrunk(), {t.name: multilenet_head(t.num_outputs) for t in tasks})

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters every task uses: the trunk's."""
        return self.trunk.parameters()
