"""Task labels, label budgets and fast in-memory batching for MNIST-style data.

Everything stays a tensor: images are uint8 until a batch is drawn, then scaled to ``[-1, 1]`` (the article's
``Normalize(mean=0.5, std=0.5)``). There are no per-sample PIL transforms, which is what makes an epoch fast on a CPU.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch

from .mnist import MNIST, Split, load_mnist

__all__ = ["MNIST", "Split", "load_mnist", "TaskData", "normalize", "digit", "parity", "ink_mass",
           "stroke_width", "stratified_subset", "VALIDATION_SIZE", "validation_split"]

#: The book's one validation split: the last 10,000 of the 60,000 training images, as in the classic
#: ``mnist.pkl.gz`` (50,000 train, 10,000 validation). Every choice in every chapter is made on it.
VALIDATION_SIZE = 10_000


def validation_split(train: Split, n_val: int = VALIDATION_SIZE) -> tuple[Split, Split]:
    """Split MNIST's 60,000 training images into ``(train, validation)``: the first 50,000 and the last 10,000.

    The same split in every chapter, with no randomness: the test set is scored once, on final models only, and all
    choices (recipe, α, λ, T, steps, method hyperparameters) are made on this validation split.
    """
    if not isinstance(train, Split):
        raise ValueError(f"validation_split expects a Split (e.g. load_mnist().train), got {type(train).__name__}")
    if not 0 < n_val < len(train):
        raise ValueError(f"n_val must be between 1 and {len(train) - 1}, got {n_val}")
    cut = len(train) - n_val
    return train.subset(slice(0, cut)), train.subset(slice(cut, None))


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, H, W]`` to float ``[N, 1, H, W]`` in ``[-1, 1]``: ``(x / 255 - 0.5) / 0.5``."""
    if images.dtype != torch.uint8:
        raise ValueError(f"normalize expects uint8 images, got {images.dtype}")
    return images.unsqueeze(1).float().div_(127.5).sub_(1.0)


# Label functions: each maps a Split to one target per image.
def digit(split: Split) -> torch.Tensor:
    """The digit class, 0–9."""
    return split.labels.clone()


def parity(split: Split) -> torch.Tensor:
    """1 if the digit is even, 0 if odd (the article's convention)."""
    return (split.labels % 2 == 0).long()


def ink_mass(split: Split) -> torch.Tensor:
    """Mean pixel intensity in ``[0, 1]``: how much ink the writer used. A target that is not a function of the digit."""
    return split.images.float().mean(dim=(1, 2)) / 255.0


def stroke_width(split: Split) -> torch.Tensor:
    """Mean stroke width in pixels, estimated as 2 × inked area / perimeter of the ink (pixels ≥ 128).

    A pen stroke of width w and length L covers about w·L pixels and has a boundary of about 2·L, so the ratio
    recovers w. It describes the writer's pen, not the digit: nearly independent of the digit class.
    """
    ink = (split.images >= 128).float()
    padded = torch.nn.functional.pad(ink, (1, 1, 1, 1))
    perimeter = (padded.diff(dim=1).abs().sum(dim=(1, 2)) + padded.diff(dim=2).abs().sum(dim=(1, 2)))
    return 2 * ink.sum(dim=(1, 2)) / perimeter.clamp_min(1.0)


def stratified_subset(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``n`` samples, as close to equal per class as ``n`` allows, drawn with a fixed seed.

    Used for label budgets: "the digit task has only n labelled images".
    """
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    classes, counts = labels.unique(return_counts=True)
    if not 1 <= n <= len(labels):
        raise ValueError(f"n must be between 1 and {len(labels)}, got {n}")
    if n < len(classes):
        raise ValueError(f"n={n} is smaller than the number of classes ({len(classes)}); a stratified subset needs one per class")
    gen = torch.Generator().manual_seed(seed)
    share = torch.full((len(classes),), n // len(classes))
    share[torch.randperm(len(classes), generator=gen)[: n % len(classes)]] += 1
    if (share > counts).any():
        raise ValueError(f"a class has fewer than {int(share.max())} samples, so n={n} cannot be stratified")
    picks = []
    for c, k in zip(classes, share):
        members = (labels == c).nonzero().squeeze(1)
        picks.append(members[torch.randperm(len(members), generator=gen)[:k]])
    return torch.cat(picks).sort().values


@dataclass(frozen=True)
class TaskData:
    """Images with one target tensor per task, all aligned on the first dimension.

    ``targets`` may also hold extra per-image tensors (for example a teacher's logits); they travel with each batch.
    """

    images: torch.Tensor
    targets: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(f"images must be uint8 [N, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        for name, t in self.targets.items():
            if len(t) != len(self.images):
                raise ValueError(f"target {name!r} has {len(t)} rows but there are {len(self.images)} images")

    @classmethod
    def from_split(cls, split: Split, tasks) -> "TaskData":
        """Label every image of ``split`` for every task, with each task's ``label_fn``."""
        return cls(split.images, {task.name: task.label_fn(split) for task in tasks})

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor) -> "TaskData":
        return TaskData(self.images[index], {k: v[index] for k, v in self.targets.items()})

    def to(self, device: str | torch.device) -> "TaskData":
        """A copy on ``device``. On a GPU, ``fit`` then draws every batch there, with no host-to-device copy per step."""
        return TaskData(self.images.to(device), {k: v.to(device) for k, v in self.targets.items()})

    def with_targets(self, **extra: torch.Tensor) -> "TaskData":
        """A copy with more per-image tensors added to ``targets``."""
        return TaskData(self.images, {**self.targets, **extra})

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Yield ``(normalized images [B, 1, H, W], {name: targets [B, ...]})``; the last batch may be smaller."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        n = len(self)
        # The order is drawn on the CPU (the same order on every device), then moved next to the images once.
        order = torch.randperm(n, generator=generator).to(self.images.device) if shuffle else None
        for start in range(0, n, batch_size):
            if order is None:
                idx = slice(start, start + batch_size)
            else:
                idx = order[start : start + batch_size]
            yield normalize(self.images[idx]), {k: v[idx] for k, v in self.targets.items()}
