"""Mixture-of-experts sharing for vector inputs: Shared-Bottom, OMoE, MMoE (Ma et al., 2018) and CGC (Tang et al., 2020).

Every network maps ``x`` ``[B, d]`` to ``{task: [B, 1]}``, as every network of the book does, and exposes
``gates(x)``, ``{task: [B, E]}``: how much each task's input to its tower takes from each expert. The rows sum to 1
(a softmax). Shared-Bottom is the mixture with one expert and a gate fixed at 1, so the four read alike.

- **Shared-Bottom**: one hidden layer shared by all tasks, then one small tower per task.
- **OMoE** (one-gate mixture of experts): E experts; one softmax gate g(x) mixes them, Σ_e g_e(x) f_e(x), and every
  tower reads the same mixture.
- **MMoE** (multi-gate): the same experts, one gate per task, so each task mixes the experts its own way.
- **CGC** (customized gate control, the one-level form of PLE): shared experts plus experts owned by each task; a
  task's gate mixes its own experts and the shared ones only.

The experts of one network are stored as one ``[E, d, h]`` weight and run as one batched matrix product, which is
much faster than a loop over E small layers. Introduced in chapter 12.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Experts", "Tower", "SharedBottom", "OMoE", "MMoE", "CGC", "shared_bottom_width"]


def _names(tasks: Sequence[str]) -> list[str]:
    names = list(tasks)
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names) or len(set(names)) != len(names):
        raise ValueError(f"tasks must be distinct identifier strings (task names), got {tasks!r}")
    return names


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Experts(nn.Module):
    """E one-hidden-layer experts ``relu(x W_e + b_e)``, computed together: ``[B, d]`` → ``[B, E, h]``.

    Each expert is initialized as ``nn.Linear(d, h)`` would be: uniform in ±1/√d.
    """

    def __init__(self, in_dim: int, num_experts: int, hidden: int) -> None:
        super().__init__()
        in_dim, num_experts, hidden = (_positive(v, n) for v, n in
                                       ((in_dim, "in_dim"), (num_experts, "num_experts"), (hidden, "hidden")))
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(num_experts, in_dim, hidden).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_experts, hidden).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.einsum("bd,edh->beh", x, self.weight) + self.bias)


class Tower(nn.Sequential):
    """A task's tower: ``Linear(in, hidden)``, ReLU, ``Linear(hidden, 1)`` (one regression output)."""

    def __init__(self, in_dim: int, hidden: int = 8) -> None:
        super().__init__(nn.Linear(_positive(in_dim, "in_dim"), _positive(hidden, "hidden")), nn.ReLU(),
                         nn.Linear(hidden, 1))


class _Mixture(nn.Module):
    """Shared plumbing: towers per task and ``forward`` = each task's tower on its gated mixture of experts."""

    def __init__(self, tasks: Sequence[str], expert_hidden: int, tower_hidden: int) -> None:
        super().__init__()
        self.task_names = _names(tasks)
        expert_hidden, tower_hidden = _positive(expert_hidden, "expert_hidden"), _positive(tower_hidden, "tower_hidden")
        self.towers = nn.ModuleDict({t: Tower(expert_hidden, tower_hidden) for t in self.task_names})

    def expert_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{task: [B, E_t, h]}``: the outputs of the experts that each task's gate mixes, in gate order."""
        raise NotImplementedError

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{task: [B, E_t]}``: each task's softmax gate over its experts; every row sums to 1."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 2:
            raise ValueError(f"x must be [batch, features], got shape {tuple(x.shape)}")
        experts, gates = self.expert_outputs(x), self.gates(x)
        return {t: self.towers[t]((gates[t].unsqueeze(-1) * experts[t]).sum(1)) for t in self.task_names}


class SharedBottom(_Mixture):
    """One shared hidden layer of ``width`` units, then a tower per task: a mixture of one expert, gate ≡ 1."""

    def __init__(self, tasks: Sequence[str], in_dim: int = 100, width: int = 113, tower_hidden: int = 8) -> None:
        super().__init__(tasks, _positive(width, "width"), tower_hidden)
        # the bottom is stored as Experts with E = 1, so its output reads [B, 1, width] like an expert mixture
        self.bottom = Experts(in_dim, 1, width)

    def expert_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.bottom(x)
        return {t: out for t in self.task_names}

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: x.new_ones(len(x), 1) for t in self.task_names}


class _SharedExperts(_Mixture):
    """``num_experts`` experts of ``expert_hidden`` units, all of them open to every task's gate."""

    def __init__(self, tasks: Sequence[str], in_dim: int, num_experts: int, expert_hidden: int,
                 tower_hidden: int) -> None:
        super().__init__(tasks, expert_hidden, tower_hidden)
        self.experts = Experts(in_dim, num_experts, expert_hidden)

    def expert_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.experts(x)
        return {t: out for t in self.task_names}


class OMoE(_SharedExperts):
    """``num_experts`` experts of ``expert_hidden`` units and one softmax gate (``gate``) shared by every task."""

    def __init__(self, tasks: Sequence[str], in_dim: int = 100, num_experts: int = 8, expert_hidden: int = 16,
                 tower_hidden: int = 8) -> None:
        super().__init__(tasks, in_dim, num_experts, expert_hidden, tower_hidden)
        self.gate = nn.Linear(in_dim, num_experts)

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        g = torch.softmax(self.gate(x), dim=-1)
        return {t: g for t in self.task_names}


class MMoE(_SharedExperts):
    """The same experts as OMoE, with one softmax gate per task (``gate_layers[task]``): each task weighs the
    experts itself."""

    def __init__(self, tasks: Sequence[str], in_dim: int = 100, num_experts: int = 8, expert_hidden: int = 16,
                 tower_hidden: int = 8) -> None:
        super().__init__(tasks, in_dim, num_experts, expert_hidden, tower_hidden)
        self.gate_layers = nn.ModuleDict({t: nn.Linear(in_dim, num_experts) for t in self.task_names})

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: torch.softmax(self.gate_layers[t](x), dim=-1) for t in self.task_names}


class CGC(_Mixture):
    """``shared_experts`` experts for all tasks plus ``task_experts`` per task; task t's gate mixes
    ``[its own experts, then the shared ones]``.

    Both counts must be at least 1, on purpose: with no shared experts the tasks share nothing (one separate mixture
    per task), and with no own experts CGC is MMoE; build those directly.
    """

    def __init__(self, tasks: Sequence[str], in_dim: int = 100, shared_experts: int = 4, task_experts: int = 2,
                 expert_hidden: int = 16, tower_hidden: int = 8) -> None:
        super().__init__(tasks, expert_hidden, tower_hidden)
        self.shared = Experts(in_dim, _positive(shared_experts, "shared_experts"), expert_hidden)
        self.own = nn.ModuleDict({t: Experts(in_dim, _positive(task_experts, "task_experts"), expert_hidden)
                                  for t in self.task_names})
        self.gate_layers = nn.ModuleDict({t: nn.Linear(in_dim, task_experts + shared_experts)
                                          for t in self.task_names})

    def expert_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.shared(x)
        return {t: torch.cat([self.own[t](x), shared], dim=1) for t in self.task_names}

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: torch.softmax(self.gate_layers[t](x), dim=-1) for t in self.task_names}


def shared_bottom_width(target_parameters: int, num_tasks: int = 2, in_dim: int = 100, tower_hidden: int = 8) -> int:
    """The Shared-Bottom width whose parameter count comes closest to ``target_parameters`` (e.g. an MMoE's).

    A width h costs (in_dim + 1)·h for the bottom and (h + 1)·tower_hidden + tower_hidden + 1 per tower.
    """
    _positive(target_parameters, "target_parameters")
    per_unit = in_dim + 1 + num_tasks * tower_hidden
    fixed = num_tasks * (2 * tower_hidden + 1)
    return max(1, round((target_parameters - fixed) / per_unit))
