"""Dense (per-pixel) tasks and their metrics, defined as in the NYUv2 multi-task literature.

Three tasks share one image and differ in everything else: segmentation (cross-entropy; mIoU and pixel accuracy),
depth (L1 on the valid pixels; absolute and relative error) and surface normals (1 − cosine; mean and median angle
error, and the share of pixels within 11.25°, 22.5° and 30°). The definitions follow LibMTL's ``examples/nyu/utils.py``
(Lin and Zhang 2023), written afresh: unlabelled pixels are −1 for segmentation and 0 (all channels) for depth and
normals, and are left out of every loss and metric. Two differences: mIoU averages over the classes that occur in the
truth or the prediction (LibMTL's mean is over all classes and is NaN if one never occurs), and a pixel is unlabelled
when all its channels are 0 (LibMTL tests that they *sum* to 0, which also drops the rare valid normals that do).

Each task is a ``mtl_utils.foundations.tasks.Task``, so ``mtl_utils.foundations.train.fit`` trains dense networks as it trains the others.
Its ``metric`` (recorded by ``fit`` per epoch) is one of the task's metrics; ``scores`` computes all nine.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ..foundations.tasks import Task
from .scenes import CLASSES, Scenes

__all__ = ["segmentation_loss", "depth_loss", "normal_loss", "segmentation_metrics", "depth_metrics",
           "normal_metrics", "pixel_accuracy", "negative_abs_error", "within_30", "METRICS", "LOWER_IS_BETTER", "scores",
           "dense_tasks"]

#: The nine metrics (2 + 2 + 5), per task, in the order of the published tables.
METRICS = {"segmentation": ("mIoU", "pixel acc"), "depth": ("abs err", "rel err"),
           "normal": ("mean angle", "median angle", "within 11.25", "within 22.5", "within 30")}
#: The metrics where lower is better (the sign convention of ``mtl_utils.evidence.stats.delta_m``).
LOWER_IS_BETTER = ("abs err", "rel err", "mean angle", "median angle")


def _check_dense(output: torch.Tensor, target: torch.Tensor, channels: int | None, what: str) -> None:
    if output.dim() != 4:
        raise ValueError(f"{what}: output must be [B, C, H, W], got shape {tuple(output.shape)}")
    if channels is not None and output.shape[1] != channels:
        raise ValueError(f"{what}: output must have {channels} channel(s), got {output.shape[1]}")
    spatial = target.shape[-2:]
    if output.shape[0] != target.shape[0] or output.shape[-2:] != spatial:
        raise ValueError(f"{what}: output {tuple(output.shape)} and target {tuple(target.shape)} do not match")


def _valid(target: torch.Tensor) -> torch.Tensor:
    """Pixels with a label: a target of all zeros over its channels is missing (NYUv2's convention)."""
    return target.ne(0).any(dim=1)


def segmentation_loss(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the labelled pixels (label −1 is ignored); ``logits [B, K, H, W]``, ``label [B, H, W]``."""
    _check_dense(logits, label, None, "segmentation")
    return F.cross_entropy(logits, label.long(), ignore_index=-1)


def depth_loss(output: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the pixels with a depth (depth 0 is missing); both ``[B, 1, H, W]``."""
    _check_dense(output, depth, 1, "depth")
    mask = _valid(depth).unsqueeze(1)
    return (output - depth).abs().mul(mask).sum() / mask.sum().clamp_min(1)


def normal_loss(output: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """1 − the mean cosine between the normalized prediction and the true unit normal, over labelled pixels."""
    _check_dense(output, normal, 3, "normal")
    mask = _valid(normal)
    cosine = (F.normalize(output, dim=1) * normal).sum(dim=1)
    return 1 - cosine.mul(mask).sum() / mask.sum().clamp_min(1)


def segmentation_metrics(logits: torch.Tensor, label: torch.Tensor) -> dict[str, float]:
    """``{"mIoU", "pixel acc"}`` from the confusion matrix over all labelled pixels of the set."""
    _check_dense(logits, label, None, "segmentation")
    k = logits.shape[1]
    pred, truth = logits.argmax(dim=1).flatten(), label.long().flatten()
    keep = (truth >= 0) & (truth < k)
    confusion = torch.bincount(k * truth[keep] + pred[keep], minlength=k * k).reshape(k, k).double()
    hits = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - hits
    present = union > 0
    return {"mIoU": (hits[present] / union[present]).mean().item(), "pixel acc": (hits.sum() / confusion.sum()).item()}


def depth_metrics(output: torch.Tensor, depth: torch.Tensor) -> dict[str, float]:
    """``{"abs err", "rel err"}``: mean |d̂ − d| and mean |d̂ − d| / d over the pixels with a depth."""
    _check_dense(output, depth, 1, "depth")
    mask = _valid(depth).unsqueeze(1)
    error = (output - depth).abs()[mask]
    return {"abs err": error.mean().item(), "rel err": (error / depth[mask]).mean().item()}


def normal_metrics(output: torch.Tensor, normal: torch.Tensor) -> dict[str, float]:
    """Angle errors in degrees over labelled pixels: mean, median, and the share within 11.25°, 22.5° and 30°."""
    _check_dense(output, normal, 3, "normal")
    cosine = (F.normalize(output, dim=1) * normal).sum(dim=1)[_valid(normal)]
    angle = torch.rad2deg(torch.acos(cosine.clamp(-1, 1))).double()
    return {"mean angle": angle.mean().item(), "median angle": angle.median().item(),
            **{f"within {a:g}": (angle < a).double().mean().item() for a in (11.25, 22.5, 30)}}


_METRIC_FNS = {"segmentation": segmentation_metrics, "depth": depth_metrics, "normal": normal_metrics}


def scores(outputs: Mapping[str, torch.Tensor], data: Scenes) -> dict[str, float]:
    """All the metrics of the tasks in ``outputs`` (``{"segmentation": logits, ...}``) against ``data``'s labels."""
    if not isinstance(data, Scenes):
        raise TypeError(f"data must be a Scenes, got {type(data).__name__}")
    unknown = sorted(set(outputs) - set(_METRIC_FNS))
    if unknown:
        raise ValueError(f"unknown dense task(s) {unknown}; use {sorted(_METRIC_FNS)}")
    result: dict[str, float] = {}
    for name, output in outputs.items():
        result.update(_METRIC_FNS[name](output, getattr(data, "label" if name == "segmentation" else name)))
    return result


def _label(scenes: Scenes) -> torch.Tensor:
    return scenes.label


def _depth(scenes: Scenes) -> torch.Tensor:
    return scenes.depth


def _normal(scenes: Scenes) -> torch.Tensor:
    return scenes.normal


def pixel_accuracy(logits: torch.Tensor, label: torch.Tensor) -> float:
    """Share of labelled pixels whose arg-max class is right."""
    return segmentation_metrics(logits, label)["pixel acc"]


def negative_abs_error(output: torch.Tensor, depth: torch.Tensor) -> float:
    """Minus the mean absolute depth error (so that higher is better)."""
    return -depth_metrics(output, depth)["abs err"]


def within_30(output: torch.Tensor, normal: torch.Tensor) -> float:
    """Share of labelled pixels whose normal is within 30° of the truth."""
    return normal_metrics(output, normal)["within 30"]


def dense_tasks(num_classes: int = len(CLASSES)) -> list[Task]:
    """The three tasks as ``Task`` objects; their ``label_fn`` reads the labels from a ``Scenes``.

    The metric that ``fit`` records per epoch is pixel accuracy, the negative absolute depth error and the share of
    normals within 30° (higher is better for each, as ``Task`` asks); ``scores`` gives all nine. The functions are
    defined at module level, so the tasks (and networks that hold them) can be pickled.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int of at least 2, got {num_classes!r}")
    return [
        Task("segmentation", num_classes, _label, loss=segmentation_loss, metric=pixel_accuracy,
             metric_name="pixel_acc"),
        Task("depth", 1, _depth, loss=depth_loss, metric=negative_abs_error, metric_name="neg_abs_err"),
        Task("normal", 3, _normal, loss=normal_loss, metric=within_30, metric_name="within_30"),
    ]
