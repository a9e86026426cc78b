"""Per-task low-rank adapters (LoRA, Hu et al., 2022) on a frozen shared trunk.

Instead of fine-tuning all of a trunk's weights for a task, keep the pre-trained weight W frozen and learn a
low-rank change: W + (α/r)·B A, with A of shape [r, fan_in] and B of shape [fan_out, r]. B starts at zero, so an
adapted network starts as the pre-trained one. Each task stores only its A, B (and its head): r·(fan_in + fan_out)
numbers per adapted layer. Here both ``nn.Linear`` and ``nn.Conv2d`` layers are adapted; a convolution's weight
[out, in, kh, kw] is treated as a matrix [out, in·kh·kw]. Introduced in chapter 14, beside ``mtl_utils.architectures.merging``.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LowRankAdapter", "add_adapters", "adapter_parameter_count"]


class LowRankAdapter(nn.Module):
    """A frozen ``nn.Linear`` or ``nn.Conv2d`` plus a trainable rank-``rank`` change (α/r)·B A of its weight."""

    def __init__(self, base: nn.Module, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        if not isinstance(base, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"base must be nn.Linear or nn.Conv2d, got {type(base).__name__}")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive int, got {rank!r}")
        fan_out, fan_in = base.weight.shape[0], base.weight[0].numel()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank = rank
        self.scale = (float(rank) if alpha is None else float(alpha)) / rank
        self.A = nn.Parameter(torch.empty(rank, fan_in))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear initializes its weight
        self.B = nn.Parameter(torch.zeros(fan_out, rank))

    def weight(self) -> torch.Tensor:
        """The adapted weight W + (α/r)·B A, in the base layer's shape."""
        return self.base.weight + self.scale * (self.B @ self.A).view_as(self.base.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.base, nn.Linear):
            return F.linear(x, self.weight(), self.base.bias)
        return self.base._conv_forward(x, self.weight(), self.base.bias)


def add_adapters(module: nn.Module, rank: int, alpha: float | None = None) -> nn.Module:
    """A copy of ``module`` with every ``nn.Linear`` and ``nn.Conv2d`` wrapped in a ``LowRankAdapter``.

    The copy's original weights are frozen; only the adapters' A and B train. ``module`` itself is not changed.
    ``alpha`` defaults to ``rank`` (scale 1).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    adapted = copy.deepcopy(module)
    for p in adapted.parameters():
        p.requires_grad_(False)
    targets = [(name, child) for name, child in adapted.named_modules() if isinstance(child, (nn.Linear, nn.Conv2d))]
    if not targets:
        raise ValueError("module has no nn.Linear or nn.Conv2d layer to adapt")
    for name, child in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = adapted.get_submodule(parent_name) if parent_name else adapted
        wrapper = LowRankAdapter(child, rank, alpha)
        if isinstance(parent, nn.Sequential) or attr.isdigit():
            parent[int(attr)] = wrapper
        else:
            setattr(parent, attr, wrapper)
    return adapted


def adapter_parameter_count(module: nn.Module, rank: int) -> int:
    """How many numbers rank-``rank`` adapters on every Linear/Conv2d of ``module`` add: Σ r·(fan_in + fan_out)."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not layers:
        raise ValueError("module has no nn.Linear or nn.Conv2d layer to adapt")
    return sum(rank * (m.weight.shape[0] + m.weight[0].numel()) for m in layers)
