"""Wiring knowledge distillation into ``fit``: the per-task distillation objective, and soft targets for a coarser task.

The teacher's logits are computed once (``train.predict``) and carried with each batch as extra targets
(``TaskData.with_targets(teacher_digit=...)``), so no teacher runs during training.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from .losses import distillation_loss

Schedule = Callable[[float], float]


def distillation_objective(teacher_keys: Mapping[str, str], temperature: float,
                           beta: float | Schedule) -> Callable[[dict, dict, float], torch.Tensor]:
    """``extra_loss`` for ``fit``: Σ_t ``distillation_loss(outputs[t], targets[teacher_keys[t]], targets[t], T, β)``.

    ``teacher_keys`` maps each distilled task to the name of its teacher logits in the batch's targets. ``beta`` is a
    number, or a schedule of training progress such as ``losses.teacher_annealing``. The label term is inside this
    loss, so train with ``weights`` 0 for the distilled tasks to avoid counting it twice.
    """
    if not teacher_keys:
        raise ValueError("teacher_keys must name at least one task and its teacher logits")
    distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), temperature,
                      0.0 if callable(beta) else beta)  # reject a bad temperature or β now, not mid-training

    def extra_loss(outputs: dict, targets: dict, progress: float) -> torch.Tensor:
        b = beta(progress) if callable(beta) else beta
        missing = [k for k in (*teacher_keys, *teacher_keys.values()) if k not in targets]
        if missing:
            raise ValueError(f"the batch has no targets {missing}; add teacher logits with TaskData.with_targets")
        return sum(distillation_loss(outputs[task], targets[key], targets[task], temperature, b)
                   for task, key in teacher_keys.items())

    return extra_loss


def group_logits(logits: torch.Tensor, groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """Log-probabilities of groups of classes: column g is log Σ_{k ∈ groups[g]} softmax(logits)_k.

    Turns a fine teacher into a coarse one, e.g. digit logits into parity logits with
    ``groups=[[1, 3, 5, 7, 9], [0, 2, 4, 6, 8]]`` (column 1 = even, the parity task's convention). The result can be
    used as teacher logits: its softmax is exactly the grouped probability.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be [batch, classes], got shape {tuple(logits.shape)}")
    flat = [k for g in groups for k in g]
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("every group must list at least one class")
    if sorted(flat) != list(range(logits.shape[1])):
        raise ValueError(f"groups must cover each of the {logits.shape[1]} classes exactly once, got {groups}")
    log_p = torch.log_softmax(logits, dim=1)
    return torch.stack([log_p[:, list(g)].logsumexp(dim=1) for g in groups], dim=1)
