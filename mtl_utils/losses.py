"""Combining task losses: the article's objective, a weighted sum Σ_t α_t L_t."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


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
    """Σ_t α_t L_t over the tasks in ``weights``."""
    return sum(weights[name] * losses[name] for name in weights)
