"""The article's LeNet trunk and the networks built from it: single-task, hard and soft parameter sharing.

Every network returns a dict ``{task_name: output}``, so training code never has to know how many heads there are.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .tasks import Task


def _pool_batch_innermost(x: torch.Tensor, return_indices: bool):
    """``F.max_pool2d(x, 2)`` computed with the batch as the innermost (vectorized) dimension, returned as NCHW."""
    planes = x.transpose(0, 1).contiguous(memory_format=torch.channels_last)  # memory order C, H, W, N
    out = F.max_pool2d(planes, 2, return_indices=return_indices)
    if return_indices:
        return tuple(t.transpose(0, 1).contiguous() for t in out)
    return out.transpose(0, 1).contiguous()


class _MaxPool2x2Function(torch.autograd.Function):
    """Forward with the batch-innermost kernel; backward with PyTorch's own max-pool backward and the same indices."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y, indices = _pool_batch_innermost(x, return_indices=True)
        ctx.save_for_backward(x, indices)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, indices = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices)


class MaxPool2x2(nn.Module):
    """2×2 max-pooling with stride 2: the values and gradients of ``nn.MaxPool2d(2)``, about twice as fast on a CPU.

    PyTorch's CPU max-pool kernel for NCHW tensors works one image plane at a time with scalar code, and it took a
    third of a LeNet training step. Its channels-last kernel is vectorized over the innermost dimension, so we lay
    the batch out innermost (memory order C, H, W, N) and pool every image of the batch at once. The backward pass is
    PyTorch's own, fed the same argmax indices, so gradients match ``nn.MaxPool2d(2)`` exactly, ties included.
    Other devices and shapes use ``F.max_pool2d`` directly.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4:
            return F.max_pool2d(x, 2)
        if torch.is_grad_enabled() and x.requires_grad:
            return _MaxPool2x2Function.apply(x)
        return _pool_batch_innermost(x, return_indices=False)


class LeNetTrunk(nn.Module):
    """conv 1→6 (5×5), max-pool 2, conv 6→16 (5×5), max-pool 2, fc 256→120, fc 120→84, ReLU after each.

    ``width`` scales every layer's channels/units (1.0 is the article's net), e.g. 0.5 for a smaller student.
    Each conv block pools before its ReLU: max and ReLU commute, so the output is the article's, and the ReLU
    then touches a quarter of the values. The pooling is ``MaxPool2x2``, ``nn.MaxPool2d(2)`` made faster on a CPU.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        c1, c2, f1, f2 = (max(1, round(k * width)) for k in (6, 16, 120, 84))
        self.out_features = f2
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5), MaxPool2x2(), nn.ReLU(),
            nn.Conv2d(c1, c2, 5), MaxPool2x2(), nn.ReLU(),
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


class SoftSharingNet(nn.Module):
    """Soft parameter sharing: one tower per task (a LeNet trunk plus that task's head), no weights in common.

    The towers are tied only through a penalty on how far apart their trunks are, ``tower_distance()``
    (Duong et al. 2015); see ``distance_penalty``. With no penalty the towers are independent single-task networks.
    """

    def __init__(self, tasks: Sequence[Task], width: float = 1.0) -> None:
        super().__init__()
        if len(tasks) < 2:
            raise ValueError(f"SoftSharingNet needs at least two tasks, got {len(tasks)}")
        self.towers = nn.ModuleDict({t.name: SingleTaskNet(t, width) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: tower.head(tower.trunk(x)) for name, tower in self.towers.items()}

    def tower_distance(self) -> torch.Tensor:
        """Σ over pairs of towers a < b, over trunk parameters, of ‖W_a − W_b‖². Heads are left free."""
        trunks = [dict(tower.trunk.named_parameters()) for tower in self.towers.values()]
        total = torch.zeros((), device=next(self.parameters()).device)
        for i, a in enumerate(trunks):
            for b in trunks[i + 1:]:
                for name, w in a.items():
                    total = total + (w - b[name]).pow(2).sum()
        return total


def distance_penalty(strength: float) -> Callable[[nn.Module], torch.Tensor]:
    """``penalty`` for ``fit``: λ · ``model.tower_distance()``, the squared distance between the task towers."""
    if not (isinstance(strength, (int, float)) and 0 <= strength < float("inf")):
        raise ValueError(f"the penalty strength λ must be a finite number >= 0, got {strength!r}")

    def penalty(model: nn.Module) -> torch.Tensor:
        if not isinstance(model, SoftSharingNet):
            raise ValueError(f"distance_penalty needs a SoftSharingNet, got {type(model).__name__}")
        return strength * model.tower_distance()

    return penalty


class CrossStitchNet(nn.Module):
    """Cross-stitch networks (Misra et al. 2016): one tower per task, mixed after every trunk stage.

    After each stage (conv block 1, conv block 2, fc 1, fc 2), task ``i`` continues with ``Σ_j α_ij h_j``, a learned
    linear combination of all towers' activations. ``α`` starts at ``self_weight`` on the diagonal and shares the
    rest equally, so the network begins close to independent towers and learns how much to share.
    """

    STAGES = ((0, 3), (3, 6), (6, 9), (9, 11))  # slices of LeNetTrunk.features

    def __init__(self, tasks: Sequence[Task], width: float = 1.0, self_weight: float = 0.9) -> None:
        super().__init__()
        n = len(tasks)
        if n < 2:
            raise ValueError(f"CrossStitchNet needs at least two tasks, got {n}")
        if not 0 <= self_weight <= 1:
            raise ValueError(f"self_weight must be in [0, 1], got {self_weight}")
        self.towers = nn.ModuleDict({t.name: SingleTaskNet(t, width) for t in tasks})
        start = torch.full((n, n), (1 - self_weight) / (n - 1))
        start.fill_diagonal_(self_weight)
        self.alphas = nn.ParameterList([nn.Parameter(start.clone()) for _ in self.STAGES])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        towers = list(self.towers.values())
        hs = [x] * len(towers)
        for (lo, hi), alpha in zip(self.STAGES, self.alphas):
            hs = [tower.trunk.features[lo:hi](h) for tower, h in zip(towers, hs)]
            stacked = torch.stack(hs)  # [tasks, batch, ...]
            hs = list(torch.einsum("ij,j...->i...", alpha, stacked))
        return {name: tower.head(h) for (name, tower), h in zip(self.towers.items(), hs)}
