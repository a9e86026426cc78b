"""Task affinity: cheap signals, measured on a shared trunk, of which tasks help each other when trained together.

``gradient_cosine`` compares the directions in which two tasks pull the shared parameters. ``lookahead_affinity``
is the inter-task affinity of TAG (Fifty et al., 2021): take one step on task j's loss alone, and see how much task
i's loss on the same batch falls. ``best_split`` searches every split of a few tasks into groups for the one with
the highest total affinity, and ``spearman`` scores how well a predictor ranks measured transfer.
Introduced in chapter 9.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from .tasks import Task, check_tasks
from . import weighting
from .train import outputs_by_task

__all__ = ["shared_parameters", "task_losses", "task_gradients", "gradient_cosine", "lookahead_affinity",
           "best_split", "spearman"]


def shared_parameters(model: nn.Module, shared: str = "trunk") -> dict[str, torch.Tensor]:
    """The parameters whose name starts with ``shared + "."`` (the shared trunk of a ``HardSharingNet``), by name."""
    params = {name: p for name, p in model.named_parameters() if name.startswith(shared + ".")}
    if not params:
        raise ValueError(f"the model has no parameters under {shared!r}; its top-level modules are "
                         f"{[name for name, _ in model.named_children()]}")
    return params


def task_losses(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor, targets: Mapping[str, torch.Tensor],
                params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Each task's loss on one batch, as a tensor ``[T]`` in task order; ``params`` replace the model's own."""
    tasks = check_tasks(tasks)
    if images.dim() != 4 or not images.dtype.is_floating_point:
        raise ValueError(f"images must be a float batch [B, C, H, W] (as TaskData.batches yields), got "
                         f"{images.dtype} {tuple(images.shape)}")
    missing = [t.name for t in tasks if t.name not in targets]
    if missing:
        raise ValueError(f"targets has no entry for task(s) {missing}; it has {list(targets)}")
    output = model(images) if params is None else functional_call(model, dict(params), (images,))
    outputs = outputs_by_task(output, tasks, len(images))
    return torch.stack([t.loss(outputs[t.name], targets[t.name]) for t in tasks])


def task_gradients(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor,
                   targets: Mapping[str, torch.Tensor], shared: str = "trunk") -> torch.Tensor:
    """``[T, P]``: row t is the gradient of task t's loss with respect to the shared parameters, flattened."""
    params = shared_parameters(model, shared)
    return weighting.task_gradients(task_losses(model, tasks, images, targets), list(params.values()))


def gradient_cosine(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor,
                    targets: Mapping[str, torch.Tensor], shared: str = "trunk") -> torch.Tensor:
    """``[T, T]`` cosine similarity between the tasks' gradients on the shared parameters (1 on the diagonal)."""
    grads = task_gradients(model, tasks, images, targets, shared)
    norms = grads.norm(dim=1)
    if (norms == 0).any():
        zero = [t.name for t, n in zip(tasks, norms) if n == 0]
        raise ValueError(f"task(s) {zero} have a zero gradient on the shared parameters; the cosine is undefined")
    unit = grads / norms[:, None]
    return unit @ unit.T


def lookahead_affinity(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor,
                       targets: Mapping[str, torch.Tensor], lr: float | Sequence[float],
                       shared: str = "trunk") -> torch.Tensor:
    """TAG's inter-task affinity ``Z[i, j] = 1 − L_i(θ_s − lr·∇L_j) / L_i(θ_s)`` on one batch, as a ``[T, T]`` tensor.

    Row i is the task affected, column j the task that takes the step. The step is a plain gradient step on the
    shared parameters θ_s only (heads unchanged); TAG steps with the training optimizer instead. Positive means a
    step on task j lowers task i's loss, negative that it raises it. The model itself is not changed. Given a
    sequence of step sizes, the gradients are computed once and the result is ``[len(lr), T, T]``.
    """
    lrs = [lr] if isinstance(lr, (int, float)) else list(lr)
    if not lrs or not all(isinstance(v, (int, float)) and 0 < v < float("inf") for v in lrs):
        raise ValueError(f"lr must be a positive finite number or a non-empty sequence of them, got {lr!r}")
    params = shared_parameters(model, shared)
    with torch.no_grad():
        before = task_losses(model, tasks, images, targets)
    if (before <= 0).any():
        raise ValueError(f"every loss must be positive for a relative change, got {before.tolist()}")
    grads = task_gradients(model, tasks, images, targets, shared)
    result = []
    with torch.no_grad():
        for step in lrs:
            columns = []
            for g in grads:
                stepped, offset = {}, 0
                for name, p in params.items():
                    stepped[name] = p - step * g[offset: offset + p.numel()].view_as(p)
                    offset += p.numel()
                columns.append(1 - task_losses(model, tasks, images, targets, stepped) / before)
            result.append(torch.stack(columns, dim=1))
    return result[0] if isinstance(lr, (int, float)) else torch.stack(result)


def best_split(affinity: pd.DataFrame, groups: int = 2) -> tuple[list[list[str]], float]:
    """The split of the tasks into ``groups`` non-empty groups with the highest total affinity, by exhaustive search.

    ``affinity.loc[i, j]`` is how much task j helps task i. A task's score is the mean affinity onto it from the
    other members of its group (0 when it is alone); a split's score is the sum over tasks, as in TAG. Returns
    ``(groups as lists of names, score)``. There are about ``groups**T / groups!`` splits: meant for a few tasks.
    """
    names = list(affinity.index)
    if list(affinity.columns) != names:
        raise ValueError(f"affinity must be square with the same task order in rows and columns, got rows {names} "
                         f"and columns {list(affinity.columns)}")
    if not isinstance(groups, int) or not 1 <= groups <= len(names):
        raise ValueError(f"groups must be an int between 1 and the number of tasks ({len(names)}), got {groups!r}")
    if len(names) > 12:
        raise ValueError(f"exhaustive search over splits of {len(names)} tasks is too large; use at most 12")
    best: tuple[list[list[str]], float] | None = None
    # The first task always goes to group 0; a split is visited once per order of the other groups' labels.
    for labels in itertools.product(range(groups), repeat=len(names) - 1):
        labels = (0, *labels)
        if len(set(labels)) != groups:
            continue
        split = [[n for n, g in zip(names, labels) if g == k] for k in range(groups)]
        score = sum(float(affinity.loc[i, [j for j in members if j != i]].mean()) if len(members) > 1 else 0.0
                    for members in split for i in members)
        if best is None or score > best[1]:
            best = (split, score)
    return best


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (ties share their mean rank)."""
    x, y = pd.Series(list(x), dtype=float), pd.Series(list(y), dtype=float)
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"need two sequences of equal length >= 3, got {len(x)} and {len(y)}")
    if x.isna().any() or y.isna().any():
        raise ValueError("spearman got NaN values")
    rx, ry = x.rank(), y.rank()
    if rx.std() == 0 or ry.std() == 0:
        raise ValueError("spearman is undefined when one sequence is constant")
    return float(rx.corr(ry))
