"""Model merging: one multi-task network from networks fine-tuned separately from the same start.

Each fine-tune t moves the shared weights from θ_pre to θ_t; the difference τ_t = θ_t − θ_pre is its *task vector*
(Ilharco et al., 2023). Merging combines task vectors without any joint training:

* ``average``: the mean of the fine-tuned weights (θ_pre + mean of the τ_t);
* ``task_arithmetic``: θ_pre + λ Σ_t τ_t, with λ chosen on validation; a negative λ on one task vector is *task
  negation*, which removes what the fine-tune learned (``negate``);
* ``ties``: TIES-merging (Yadav et al., 2023): trim each τ_t to its top-k% magnitudes, elect a sign per entry by the
  total mass of the trimmed values, and average only the values that agree with the elected sign (the disjoint mean).

Weights are state dicts (``name → tensor``, e.g. ``net.trunk.state_dict()``); the heads stay outside the merge.
Every function checks that its state dicts have the same keys and shapes and raises ``ValueError`` otherwise.
Introduced in chapter 14; per-task low-rank adapters, the other way to serve many tasks from one trunk, are in
``mtl_utils.architectures.adapters``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

__all__ = ["check_compatible", "flatten", "task_vector", "average", "interpolate", "task_arithmetic", "negate",
           "ties_vector", "ties", "cosine"]

StateDict = Mapping[str, torch.Tensor]


def check_compatible(states: Sequence[StateDict], what: str = "state dicts") -> list[StateDict]:
    """The state dicts as a list, after checking that there is at least one and all have the same keys and shapes."""
    if isinstance(states, Mapping):
        raise TypeError(f"{what} must be a list of state dicts, got a single mapping")
    states = list(states)
    if not states:
        raise ValueError(f"{what}: need at least one, got an empty list")
    first = states[0]
    for i, state in enumerate(states):
        if not isinstance(state, Mapping):
            raise TypeError(f"{what}[{i}] must be a mapping of name to tensor, got {type(state).__name__}")
        if set(state) != set(first):
            missing, extra = sorted(set(first) - set(state)), sorted(set(state) - set(first))
            raise ValueError(f"{what}[{i}] has different keys from {what}[0]: missing {missing}, extra {extra}")
        for key, value in state.items():
            if not torch.is_tensor(value) or not value.is_floating_point():
                raise TypeError(f"{what}[{i}][{key!r}] must be a floating-point tensor, got {type(value).__name__}"
                                f"{'' if not torch.is_tensor(value) else ' ' + str(value.dtype)}")
            if value.shape != first[key].shape:
                raise ValueError(f"{what}[{i}][{key!r}] has shape {tuple(value.shape)} but {what}[0] has "
                                 f"{tuple(first[key].shape)}")
    return states


def flatten(state: StateDict) -> torch.Tensor:
    """All entries of a state dict as one vector, in the dict's key order."""
    check_compatible([state])
    return torch.cat([v.detach().reshape(-1) for v in state.values()])


def task_vector(finetuned: StateDict, pretrained: StateDict) -> dict[str, torch.Tensor]:
    """τ = θ_finetuned − θ_pretrained, entry by entry."""
    check_compatible([pretrained, finetuned], "[pretrained, finetuned]")
    return {k: finetuned[k].detach() - pretrained[k].detach() for k in pretrained}


def _scaled_sum(pretrained: StateDict, vector: StateDict, lam: float) -> dict[str, torch.Tensor]:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam):
        raise ValueError(f"lam must be a finite number, got {lam!r}")
    return {k: pretrained[k].detach() + lam * vector[k] for k in pretrained}


def average(states: Sequence[StateDict]) -> dict[str, torch.Tensor]:
    """The entry-wise mean of the state dicts (weight averaging, "model soup" style)."""
    states = check_compatible(states)
    return {k: torch.stack([s[k].detach() for s in states]).mean(0) for k in states[0]}


def interpolate(a: StateDict, b: StateDict, alpha: float) -> dict[str, torch.Tensor]:
    """(1 − α)·a + α·b: the point at ``alpha`` on the straight line from ``a`` (α = 0) to ``b`` (α = 1)."""
    check_compatible([a, b], "[a, b]")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    return {k: (1 - alpha) * a[k].detach() + alpha * b[k].detach() for k in a}


def _sum_vectors(vectors: Sequence[StateDict]) -> dict[str, torch.Tensor]:
    vectors = check_compatible(vectors, "task vectors")
    return {k: torch.stack([v[k].detach() for v in vectors]).sum(0) for k in vectors[0]}


def task_arithmetic(pretrained: StateDict, vectors: Sequence[StateDict], lam: float) -> dict[str, torch.Tensor]:
    """θ_pre + λ Σ_t τ_t (Ilharco et al., 2023). With one vector and λ < 0 it is task negation (see ``negate``)."""
    total = _sum_vectors(vectors)
    check_compatible([pretrained, total], "[pretrained, task vectors]")
    return _scaled_sum(pretrained, total, lam)


def negate(pretrained: StateDict, vector: StateDict, lam: float) -> dict[str, torch.Tensor]:
    """θ_pre − λ τ: move *away* from what one fine-tune learned, to make the network forget that task (λ ≥ 0)."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
        raise ValueError(f"lam must be a non-negative number (the sign is the negation's), got {lam!r}")
    return task_arithmetic(pretrained, [vector], -lam)


def ties_vector(vectors: Sequence[StateDict], k: float) -> dict[str, torch.Tensor]:
    """The TIES-merged task vector (Yadav et al., 2023): trim, elect sign, disjoint mean.

    1. **Trim**: in each task vector keep the entries whose magnitude is among its top ``k`` percent (over all of
       its entries; ties at the threshold are kept), set the rest to 0.
    2. **Elect**: the sign of each entry is the sign of the sum of the trimmed values (the side with more mass).
    3. **Disjoint mean**: average, entry by entry, only the trimmed values that are non-zero and have the elected
       sign. An entry that no task keeps, or whose trimmed values sum to exactly 0, is 0.
    """
    vectors = check_compatible(vectors, "task vectors")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 100:
        raise ValueError(f"k must be a percentage in (0, 100], got {k!r}")
    keys = list(vectors[0])
    flat = torch.stack([torch.cat([v[key].detach().reshape(-1) for key in keys]) for v in vectors])  # [T, P]
    keep = max(1, math.ceil(k / 100 * flat.shape[1]))
    threshold = flat.abs().topk(keep, dim=1).values[:, -1:]  # each task's k-th largest magnitude
    trimmed = torch.where(flat.abs() >= threshold, flat, torch.zeros_like(flat))
    sign = trimmed.sum(0).sign()
    agree = (trimmed != 0) & (trimmed.sign() == sign)
    merged = (trimmed * agree).sum(0) / agree.sum(0).clamp_min(1)
    out, offset = {}, 0
    for key in keys:
        n = vectors[0][key].numel()
        out[key] = merged[offset: offset + n].view_as(vectors[0][key])
        offset += n
    return out


def ties(pretrained: StateDict, vectors: Sequence[StateDict], k: float, lam: float) -> dict[str, torch.Tensor]:
    """θ_pre + λ · ``ties_vector(vectors, k)``: TIES-merging with its two hyperparameters, k (percent) and λ."""
    merged = ties_vector(vectors, k)
    check_compatible([pretrained, merged], "[pretrained, task vectors]")
    return _scaled_sum(pretrained, merged, lam)


def cosine(a: StateDict, b: StateDict) -> float:
    """Cosine similarity between two task vectors (or any two state dicts), flattened."""
    check_compatible([a, b], "[a, b]")
    fa, fb = flatten(a), flatten(b)
    na, nb = fa.norm(), fb.norm()
    if na == 0 or nb == 0:
        raise ValueError("the cosine is undefined for a zero vector")
    return float(fa @ fb / (na * nb))
