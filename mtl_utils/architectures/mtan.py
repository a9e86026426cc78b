"""Small encoder–decoder networks for dense tasks: one per task, hard sharing (two ways) and MTAN.

Every network is built from the same five stages (two 3×3 convolutions each, with batch norm and ReLU): three encoder
stages at full, half and quarter resolution (max-pooling between them) and two decoder stages back up to full
resolution (upsampling between them). Every task ends in the same small head (a 3×3 convolution and a 1×1 one), so the
forms differ only in what they share:

- ``SingleTaskNets``: one encoder–decoder per task, nothing shared;
- ``SplitDecoderNet``: hard sharing of the encoder, one decoder per task;
- ``SharedDecoderNet``: hard sharing of the encoder and the decoder, only the heads are per task;
- ``MTAN``: the shared encoder–decoder of ``SharedDecoderNet``, and per task and stage a soft-attention module that
  masks the shared features (Liu, Johns and Davison 2019). Their design follows the paper and its public SegNet code
  (``lorenmt/mtan``): the mask is computed by two 1×1 convolutions from the stage's first feature map and the
  previous stage's attended features, which pass through a 3×3 convolution shared by the tasks.

Each ``forward`` returns ``{task_name: [B, C_task, H, W]}`` so that ``mtl_utils.foundations.train.fit`` trains them all.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..foundations.tasks import Task, check_tasks

__all__ = ["conv_block", "Stage", "Attention", "Head", "SingleTaskNets", "SplitDecoderNet", "SharedDecoderNet",
           "MTAN", "ARCHITECTURES"]

#: What happens to the resolution after each of the five stages.
RESAMPLE = ("down", "down", "up", "up", None)


def _widths(width: int) -> tuple[int, ...]:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    return (width, 2 * width, 3 * width, 2 * width, width)  # channels of the five stages


def _resample(x: torch.Tensor, how: str | None) -> torch.Tensor:
    if how == "down":
        return F.max_pool2d(x, 2)
    if how == "up":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    return x


def conv_block(c_in: int, c_out: int, kernel: int = 3) -> nn.Sequential:
    """Convolution (same padding), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class Stage(nn.Module):
    """Two 3×3 convolution blocks; returns both outputs ``(u, p)`` (MTAN's attention reads the first)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.first, self.second = conv_block(c_in, c_out), conv_block(c_out, c_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.first(x)
        return u, self.second(u)


class Head(nn.Module):
    """A task's output layer: a 3×3 convolution block, then a 1×1 convolution to the task's channels."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body, self.out = conv_block(c_in, c_in), nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


def _stages(first: int, last: int, widths: Sequence[int], c_in: int) -> nn.ModuleList:
    ins = [c_in, *widths[:-1]]
    return nn.ModuleList(Stage(ins[i], widths[i]) for i in range(first, last))


def _run(stages: nn.ModuleList, x: torch.Tensor, first: int) -> torch.Tensor:
    for i, stage in enumerate(stages, start=first):
        x = _resample(stage(x)[1], RESAMPLE[i])
    return x


class _DenseBase(nn.Module):
    def __init__(self, tasks: Sequence[Task], width: int, in_channels: int) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.task_names = [t.name for t in tasks]  # names only: the network pickles without the tasks' functions
        self.widths = _widths(width)
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        self.heads = nn.ModuleDict({t.name: Head(self.widths[-1], t.num_outputs) for t in tasks})

    @staticmethod
    def _check_input(x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"input must be [B, C, H, W] with H and W multiples of 4, got {tuple(x.shape)}")


class SingleTaskNets(_DenseBase):
    """One full encoder–decoder per task, nothing shared: the single-task baseline, trained in one call."""

    def __init__(self, tasks: Sequence[Task], width: int = 16, in_channels: int = 1) -> None:
        super().__init__(tasks, width, in_channels)
        self.nets = nn.ModuleDict({t.name: _stages(0, 5, self.widths, in_channels) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check_input(x)
        return {name: self.heads[name](_run(net, x, 0)) for name, net in self.nets.items()}


class SplitDecoderNet(_DenseBase):
    """Hard sharing of the encoder (stages 1–3); each task has its own decoder (stages 4–5) and head."""

    def __init__(self, tasks: Sequence[Task], width: int = 16, in_channels: int = 1) -> None:
        super().__init__(tasks, width, in_channels)
        self.trunk = _stages(0, 3, self.widths, in_channels)
        self.decoders = nn.ModuleDict({t.name: _stages(3, 5, self.widths, in_channels) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check_input(x)
        z = _run(self.trunk, x, 0)
        return {name: self.heads[name](_run(dec, z, 3)) for name, dec in self.decoders.items()}


class SharedDecoderNet(_DenseBase):
    """Hard sharing of the encoder and the decoder (all five stages); only the heads are per task."""

    def __init__(self, tasks: Sequence[Task], width: int = 16, in_channels: int = 1) -> None:
        super().__init__(tasks, width, in_channels)
        self.trunk = _stages(0, 5, self.widths, in_channels)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check_input(x)
        z = _run(self.trunk, x, 0)
        return {name: head(z) for name, head in self.heads.items()}


class Attention(nn.Module):
    """One task's attention module at one stage: ``â = sigmoid(g([u; a_prev])) ⊙ p``.

    ``g`` is 1×1 convolution, batch norm, ReLU, 1×1 convolution, batch norm; ``u`` and ``p`` are the stage's first and
    second shared feature maps and ``a_prev`` the task's attended features from the previous stage, already brought
    to this stage's width and resolution (absent at the first stage).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                                  nn.Conv2d(c_out, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.Sigmoid())

    def forward(self, u: torch.Tensor, p: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        x = u if previous is None else torch.cat([u, previous], dim=1)
        return self.gate(x) * p


class MTAN(_DenseBase):
    """Multi-Task Attention Network: the shared five-stage network with per-task attention at every stage.

    ``trunk`` is the shared network, ``attention[task][s]`` the task's module at stage ``s`` and ``bridges[s]`` the
    shared 3×3 convolution that carries attended features from stage ``s`` to stage ``s + 1``. The shared stages run
    once per batch; the task branches read their features.
    """

    def __init__(self, tasks: Sequence[Task], width: int = 16, in_channels: int = 1) -> None:
        super().__init__(tasks, width, in_channels)
        w = self.widths
        self.trunk = _stages(0, 5, w, in_channels)
        self.attention = nn.ModuleDict({t.name: nn.ModuleList(
            [Attention(w[0], w[0])] + [Attention(2 * w[s], w[s]) for s in range(1, 5)]) for t in tasks})
        self.bridges = nn.ModuleList(conv_block(w[s], w[s + 1]) for s in range(4))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check_input(x)
        shared = []
        for s, stage in enumerate(self.trunk):
            u, p = stage(x)
            shared.append((u, p))
            x = _resample(p, RESAMPLE[s])
        out = {}
        for name, modules in self.attention.items():
            attended = None
            for s, (u, p) in enumerate(shared):
                previous = None if s == 0 else _resample(self.bridges[s - 1](attended), RESAMPLE[s - 1])
                attended = modules[s](u, p, previous)
            out[name] = self.heads[name](attended)
        return out


#: The four forms, by the names the chapter uses.
ARCHITECTURES = {"single-task": SingleTaskNets, "split decoders": SplitDecoderNet,
                 "shared decoder": SharedDecoderNet, "MTAN": MTAN}
