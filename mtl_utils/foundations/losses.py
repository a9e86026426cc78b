"""Combining task losses (the article's objective, a weighted sum Σ_t α_t L_t) and the distillation loss."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F


def check_weights(weights: Mapping[str, float] | None, task_names: Sequence[str]) -> dict[str, float]:
    """Return one non-negative weight per task (all 1.0 when ``weights`` is None), or raise ``ValueError``."""
    if weights is None:
        return {name: 1.0 for name in task_names}
    unknown = sorted(set(weights) - set(task_names))
    missing = sorted(set(task_names) - set(weights))
    if unknown or missing:
        raise ValueError(f"weights must name exactly the tasks {list(task_names)}; unknown: {unknown}, missing: {missing}")
    for name, w in weights.items():
        if not float(w) >= 0:  # also rejects NaN
            raise ValueError(f"weight for task {name!r} must be >= 0, got {w}")
    return {name: float(weights[name]) for name in task_names}


def weighted_sum(losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_t α_t L_t over the tasks in ``weights``. A weight of exactly 1 adds its loss without a multiplication."""
    if not weights:
        raise ValueError("weighted_sum needs at least one task weight")
    terms = [losses[name] if weights[name] == 1 else weights[name] * losses[name] for name in weights]
    return sum(terms[1:], terms[0])


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
                      temperature: float = 1.0, beta: float = 0.5) -> torch.Tensor:
    """(1 − β) · CE(student, y) + β · T² · KL(softmax(teacher / T) ‖ softmax(student / T)), averaged over the batch.

    Hinton et al. (2015): the soft targets at temperature T carry the teacher's "dark knowledge" (which wrong
    classes it finds plausible); the factor T² keeps their gradients on the same scale as the label term's when T
    changes. The teacher is treated as a constant (no gradient flows into it).
    """
    if not (isinstance(temperature, (int, float)) and 0 < temperature < float("inf")):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if not 0 <= beta <= 1:
        raise ValueError(f"beta (the weight of the teacher term) must be in [0, 1], got {beta!r}")
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits must both be [batch, classes] with the same shape, got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if target.shape != student_logits.shape[:1]:
        raise ValueError(f"target must hold one class per row, shape {tuple(student_logits.shape[:1])}, "
                         f"got {tuple(target.shape)}")
    hard = F.cross_entropy(student_logits, target)
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    soft = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    return (1 - beta) * hard + beta * temperature**2 * soft


def teacher_annealing(progress: float) -> float:
    """Teacher annealing (Clark et al. 2019): the teacher's weight β falls linearly from 1 to 0 over training.

    ``progress`` is the fraction of training done, in [0, 1]; use the result as ``beta`` in ``distillation_loss``.
    At T = 1, mixing the losses this way equals BAM!'s mixing of the targets, ``λ·y + (1 − λ)·teacher`` with
    λ = progress, up to a constant.
    """
    if not 0 <= progress <= 1:
        raise ValueError(f"progress must be in [0, 1], got {progress!r}")
    return 1.0 - float(progress)
