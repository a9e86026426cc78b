"""MultiMNIST: two digits in one 28×28 image, the small benchmark that multi-task papers report.

The construction follows Sener & Koltun (2018)'s public code. Each MNIST image is the *left* digit and a randomly
drawn partner image is the *right* digit. Both go on a 36×36 black canvas, the left digit at rows and columns 0–27
and the right one at 6–33; where they overlap a pixel is the maximum of the two. The canvas is then shrunk to 28×28
with nearest-neighbour interpolation (PIL's rule: output pixel ``i`` reads canvas pixel ``floor((i + 0.5)·36/28)``).
The tasks are: classify the left digit, and classify the right one.

Two differences from their code, both deliberate. Partners are drawn with a seeded generator (theirs is unseeded),
so the benchmark is identical on every machine. And partners are drawn *within* each part (the book's 50,000
training images, its 10,000 validation images, the 10,000 test images), so that no validation or test image ever
appears inside a training composite.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..foundations.data import Split, validation_split
from ..foundations.mnist import MNIST, load_mnist
from ..foundations.tasks import Task

__all__ = ["CANVAS", "OFFSET", "Composite", "compose", "make_composites", "load_multimnist", "left_task",
           "right_task"]

CANVAS = 36  # side of the canvas the two digits are placed on
OFFSET = 6  # the right digit's top-left corner, in canvas pixels
_NEAREST = ((torch.arange(28) + 0.5) * CANVAS / 28).floor().long()  # PIL's nearest-neighbour source rows/columns


@dataclass(frozen=True)
class Composite:
    """MultiMNIST images (uint8 ``[N, 28, 28]``), both digits' labels, and each right digit's source index."""

    images: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    partner: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)


def compose(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Overlay uint8 digit images ``[N, 28, 28]`` on a 36×36 canvas (maximum where they overlap), shrink to 28×28."""
    if left.dtype != torch.uint8 or right.dtype != torch.uint8 or left.shape != right.shape \
            or left.dim() != 3 or left.shape[1:] != (28, 28):
        raise ValueError(f"compose expects two uint8 tensors [N, 28, 28] of the same shape, got {left.dtype} "
                         f"{tuple(left.shape)} and {right.dtype} {tuple(right.shape)}")
    canvas = torch.zeros(len(left), CANVAS, CANVAS, dtype=torch.uint8)
    canvas[:, :28, :28] = left
    window = canvas[:, OFFSET:OFFSET + 28, OFFSET:OFFSET + 28]
    torch.maximum(window, right, out=window)
    return canvas[:, _NEAREST][:, :, _NEAREST].contiguous()


def make_composites(split: Split, seed: int = 0) -> Composite:
    """One composite per image of ``split``, its partner drawn uniformly from the same split with a seeded generator."""
    if not isinstance(split, Split):
        raise ValueError(f"make_composites expects a Split, got {type(split).__name__}")
    partner = torch.randint(len(split), (len(split),), generator=torch.Generator().manual_seed(seed))
    images = compose(split.images, split.images[partner])
    return Composite(images, split.labels.clone(), split.labels[partner], partner)


def load_multimnist(mnist: MNIST | None = None, seed: int = 0) -> tuple[Composite, Composite, Composite]:
    """``(train, validation, test)`` MultiMNIST: 50,000, 10,000 and 10,000 composites, built in memory in about a
    second. The first two come from the book's ``validation_split`` of the MNIST training images."""
    mnist = mnist or load_mnist(verbose=False)
    train, val = validation_split(mnist.train)
    return (make_composites(train, seed), make_composites(val, seed + 1), make_composites(mnist.test, seed + 2))


def _left(c: Composite) -> torch.Tensor:
    return c.left


def _right(c: Composite) -> torch.Tensor:
    return c.right


def left_task() -> Task:
    """Classify the left (upper-left) digit of a MultiMNIST image."""
    return Task("left", 10, _left)


def right_task() -> Task:
    """Classify the right (lower-right) digit of a MultiMNIST image."""
    return Task("right", 10, _right)
