"""Measures of task relatedness: between labels (mutual information) and between learned features (linear CKA).

Mutual information asks how much knowing one task's label tells about another's; linear CKA (Kornblith et al.,
2019) asks how alike two networks' representations of the same inputs are, regardless of rotation or scale.
"""
from __future__ import annotations

import torch


def _codes(labels: torch.Tensor, name: str) -> torch.Tensor:
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D integer tensor of class labels, got {labels.dtype} "
                         f"{tuple(labels.shape)}; bin continuous targets first (e.g. with quantile_bins)")
    return labels.unique(return_inverse=True)[1]


def entropy_bits(labels: torch.Tensor) -> float:
    """Shannon entropy of a discrete label, in bits, from its empirical frequencies."""
    p = torch.bincount(_codes(labels, "labels")).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log2()).sum())


def mutual_information_bits(a: torch.Tensor, b: torch.Tensor) -> float:
    """Empirical mutual information I(A; B) in bits between two discrete labels of the same samples.

    0 means independent; ``min(H(A), H(B))`` means one label determines the other (when the smaller one is the
    function of the larger).
    """
    ca, cb = _codes(a, "a"), _codes(b, "b")
    if len(ca) != len(cb) or len(ca) == 0:
        raise ValueError(f"a and b must be non-empty and of equal length, got {len(ca)} and {len(cb)}")
    joint = torch.zeros(int(ca.max()) + 1, int(cb.max()) + 1, dtype=torch.float64)
    joint.index_put_((ca, cb), torch.ones(len(ca), dtype=torch.float64), accumulate=True)
    joint /= joint.sum()
    outer = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    nz = joint > 0
    return max(0.0, float((joint[nz] * (joint[nz] / outer[nz]).log2()).sum()))


def quantile_bins(values: torch.Tensor, bins: int = 10) -> torch.Tensor:
    """Integer bin 0..bins-1 of each value by its quantile, so that a continuous target can enter ``mutual_information_bits``."""
    if values.dim() != 1 or not values.dtype.is_floating_point:
        raise ValueError(f"values must be a 1-D float tensor, got {values.dtype} {tuple(values.shape)}")
    if bins < 2 or bins > len(values):
        raise ValueError(f"bins must be between 2 and the number of values ({len(values)}), got {bins}")
    edges = torch.quantile(values.double(), torch.linspace(0, 1, bins + 1, dtype=torch.float64)[1:-1])
    return torch.bucketize(values.double(), edges, right=True)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear centered kernel alignment between two feature matrices of the same n inputs (rows).

    ``CKA = ||Yᶜᵀ Xᶜ||²_F / (||Xᶜᵀ Xᶜ||_F ||Yᶜᵀ Yᶜ||_F)`` with column-centred ``Xᶜ``, ``Yᶜ``. It is 1 for features
    that differ by a rotation and an overall scale, and does not depend on the two widths being equal.
    """
    if x.dim() != 2 or y.dim() != 2 or len(x) != len(y):
        raise ValueError(f"x and y must be 2-D with the same number of rows, got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) < 2:
        raise ValueError("linear_cka needs at least 2 inputs")
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    xx, yy = torch.linalg.matrix_norm(x.T @ x), torch.linalg.matrix_norm(y.T @ y)
    if xx == 0 or yy == 0:
        raise ValueError("linear_cka is undefined for constant features (zero variance)")
    return float(torch.linalg.matrix_norm(y.T @ x) ** 2 / (xx * yy))
