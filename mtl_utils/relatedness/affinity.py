"""Task affinity: cheap signals, measured on a shared trunk, of which tasks help each other when trained together.

``gradient_cosine`` compares the directions in which two tasks pull the shared parameters. ``lookahead_affinity``
is the inter-task affinity of TAG (Fifty et al., 2021): take one step on task j's loss alone, and see how much task
i's loss on its batch falls. TAG takes that step with the training optimizer's own update (its momentum or Adam
state included), which ``optimizer_update`` computes without changing the optimizer; a plain gradient step of a
given size is the cheaper variant. Tasks may have a batch each (``task_losses`` with a dict of images), as when a
main task has few labels and an auxiliary task many. ``best_split`` searches every split of a few tasks into groups
for the one with the highest total affinity, and ``spearman`` scores how well a predictor ranks measured transfer.
Introduced in chapter 9.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from ..foundations.tasks import Task, check_tasks
from ..foundations.train import outputs_by_task
from ..optimization import weighting

__all__ = ["shared_parameters", "task_losses", "task_gradients", "gradient_cosine", "optimizer_update",
           "lookahead_affinity", "best_split", "spearman"]


def shared_parameters(model: nn.Module, shared: str = "trunk") -> dict[str, torch.Tensor]:
    """The parameters whose name starts with ``shared + "."`` (the shared trunk of a ``HardSharingNet``), by name."""
    params = {name: p for name, p in model.named_parameters() if name.startswith(shared + ".")}
    if not params:
        raise ValueError(f"the model has no parameters under {shared!r}; its top-level modules are "
                         f"{[name for name, _ in model.named_children()]}")
    return params


def task_losses(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor | Mapping[str, torch.Tensor],
                targets: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Each task's loss on one batch, as a tensor ``[T]`` in task order; ``params`` replace the model's own.

    ``images`` is one batch for every task, with ``targets[name]`` its labels for each task; or a dict ``{name:
    images}`` that gives each task its own batch (``targets[name]`` then labels that batch), as ``fit`` draws them
    from per-task training sets. The network runs once, on the batches concatenated in task order.
    """
    tasks = check_tasks(tasks)
    missing = [t.name for t in tasks if t.name not in targets]
    if missing:
        raise ValueError(f"targets has no entry for task(s) {missing}; it has {list(targets)}")
    per_task = isinstance(images, Mapping)
    if per_task:
        absent = [t.name for t in tasks if t.name not in images]
        if absent:
            raise ValueError(f"images has no batch for task(s) {absent}; it has {list(images)}")
        batches = [images[t.name] for t in tasks]
    else:
        batches = [images]
    for batch in batches:
        if not isinstance(batch, torch.Tensor) or batch.dim() != 4 or not batch.dtype.is_floating_point:
            raise ValueError("images must be a float batch [B, C, H, W] (as TaskData.batches yields), or a dict "
                             f"of them by task, got {getattr(batch, 'dtype', type(batch))} "
                             f"{tuple(getattr(batch, 'shape', ()))}")
    x = torch.cat(batches) if per_task else images
    output = model(x) if params is None else functional_call(model, dict(params), (x,))
    outputs = outputs_by_task(output, tasks, len(x))
    if not per_task:
        return torch.stack([t.loss(outputs[t.name], targets[t.name]) for t in tasks])
    losses, offset = [], 0
    for t, batch in zip(tasks, batches):
        losses.append(t.loss(outputs[t.name][offset: offset + len(batch)], targets[t.name]))
        offset += len(batch)
    return torch.stack(losses)


def task_gradients(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor | Mapping[str, torch.Tensor],
                   targets: Mapping[str, torch.Tensor], shared: str = "trunk") -> torch.Tensor:
    """``[T, P]``: row t is the gradient of task t's loss with respect to the shared parameters, flattened."""
    params = shared_parameters(model, shared)
    return weighting.task_gradients(task_losses(model, tasks, images, targets), list(params.values()))


def gradient_cosine(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor | Mapping[str, torch.Tensor],
                    targets: Mapping[str, torch.Tensor], shared: str = "trunk") -> torch.Tensor:
    """``[T, T]`` cosine similarity between the tasks' gradients on the shared parameters (1 on the diagonal)."""
    grads = task_gradients(model, tasks, images, targets, shared)
    norms = grads.norm(dim=1)
    if (norms == 0).any():
        zero = [t.name for t, n in zip(tasks, norms) if n == 0]
        raise ValueError(f"task(s) {zero} have a zero gradient on the shared parameters; the cosine is undefined")
    unit = grads / norms[:, None]
    return unit @ unit.T


def optimizer_update(optimizer: torch.optim.Optimizer, params: Mapping[str, torch.Tensor],
                     grads: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The parameters ``params`` would have after ``optimizer.step()`` with gradients ``grads``; nothing is changed.

    This is the step TAG takes for one task: the optimizer's own update, from its current state. Supported: SGD
    (momentum, dampening, Nesterov, weight decay) and Adam/AdamW (bias-corrected moments, weight decay), without
    ``maximize`` or ``amsgrad``. ``params`` must be parameters the optimizer holds; their state (momentum buffer,
    Adam's moments and step count) is read, and a parameter with no state yet takes a first step.
    """
    params = dict(params)
    grads = list(grads)
    if len(grads) != len(params):
        raise ValueError(f"grads must have one tensor per parameter: {len(params)} parameters, {len(grads)} grads")
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    is_adam = isinstance(optimizer, torch.optim.Adam)  # AdamW is a subclass
    if not (is_adam or isinstance(optimizer, torch.optim.SGD)):
        raise ValueError(f"optimizer must be torch.optim.SGD, Adam or AdamW, got {type(optimizer).__name__}")
    stepped = {}
    with torch.no_grad():
        for (name, p), g in zip(params.items(), grads):
            if id(p) not in group_of:
                raise ValueError(f"parameter {name!r} is not one the optimizer updates")
            if g.shape != p.shape:
                raise ValueError(f"grad for {name!r} has shape {tuple(g.shape)}, the parameter {tuple(p.shape)}")
            group, state = group_of[id(p)], optimizer.state.get(p, {})
            if group.get("maximize") or group.get("amsgrad"):
                raise ValueError("optimizer_update does not support maximize or amsgrad")
            lr, wd = float(group["lr"]), float(group["weight_decay"])
            decoupled = is_adam and (isinstance(optimizer, torch.optim.AdamW)
                                     or group.get("decoupled_weight_decay", False))
            if is_adam:
                beta1, beta2 = group["betas"]
                step = float(state["step"]) + 1 if "step" in state else 1.0
                base = p * (1 - lr * wd) if decoupled else p
                g = g if decoupled or wd == 0 else g + wd * p
                m = beta1 * state["exp_avg"] + (1 - beta1) * g if state else (1 - beta1) * g
                v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g if state else (1 - beta2) * g * g
                denom = (v / (1 - beta2 ** step)).sqrt() + group["eps"]
                stepped[name] = base - lr / (1 - beta1 ** step) * m / denom
            else:
                g = g if wd == 0 else g + wd * p
                momentum = group["momentum"]
                if momentum:
                    buf = state.get("momentum_buffer")
                    buf = g if buf is None else momentum * buf + (1 - group["dampening"]) * g
                    g = g + momentum * buf if group["nesterov"] else buf
                stepped[name] = p - lr * g
    return stepped


def lookahead_affinity(model: nn.Module, tasks: Sequence[Task], images: torch.Tensor | Mapping[str, torch.Tensor],
                       targets: Mapping[str, torch.Tensor], lr: float | Sequence[float] | None = None,
                       shared: str = "trunk", *, optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
    """TAG's inter-task affinity ``Z[i, j] = 1 − L_i(θ_s after a step on L_j) / L_i(θ_s)``, a ``[T, T]`` tensor.

    Row i is the task affected, column j the task that takes the step; each loss on its task's batch (see
    ``task_losses``). Only the shared parameters θ_s move (heads unchanged). With ``optimizer`` (the one training
    the model), the step is that optimizer's update for task j's gradient from its current state, as in TAG
    (``optimizer_update``). With ``lr`` instead, it is a plain gradient step ``θ_s − lr·∇L_j``, and a sequence of
    step sizes gives ``[len(lr), T, T]`` for the price of one set of gradients. Positive means a step on task j
    lowers task i's loss, negative that it raises it. The model and the optimizer are not changed.
    """
    if (lr is None) == (optimizer is None):
        raise ValueError("pass exactly one of lr= (a plain gradient step) and optimizer= (the optimizer's update)")
    lrs = [] if lr is None else [lr] if isinstance(lr, (int, float)) else list(lr)
    if lr is not None and (not lrs or not all(isinstance(v, (int, float)) and 0 < v < float("inf") for v in lrs)):
        raise ValueError(f"lr must be a positive finite number or a non-empty sequence of them, got {lr!r}")
    params = shared_parameters(model, shared)
    with torch.no_grad():
        before = task_losses(model, tasks, images, targets)
    if (before <= 0).any():
        raise ValueError(f"every loss must be positive for a relative change, got {before.tolist()}")
    grads = task_gradients(model, tasks, images, targets, shared)
    shapes = [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]

    def stepped_losses(step: dict[str, torch.Tensor]) -> torch.Tensor:
        return 1 - task_losses(model, tasks, images, targets, step) / before

    result = []
    with torch.no_grad():
        if optimizer is not None:
            columns = [stepped_losses(optimizer_update(optimizer, params, [
                part.view(shape) for part, shape in zip(g.split(sizes), shapes)])) for g in grads]
            return torch.stack(columns, dim=1)
        for step in lrs:
            columns = []
            for g in grads:
                columns.append(stepped_losses({name: p - step * part.view_as(p)
                                               for (name, p), part in zip(params.items(), g.split(sizes))}))
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
