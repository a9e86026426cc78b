"""The settings of the optimizer benchmark (``python -m mtl_utils.benchmark``): the book's five multi-task problems.

A ``Setting`` says how to load its data, build its networks and score them; ``mtl_utils.benchmark`` runs every
method on every setting under one protocol. The five settings are those of earlier chapters, at a reduced size:

- ``three-tasks`` (chapter 7): digit, parity and stroke width on MNIST, the stroke target standardized on the training
  split, so that no loss dominates by its units;
- ``conflict`` (chapter 8): the digit task beside a task of random labels that needs capacity of its own; it is scored
  on the digit task only, the task that the competing one can hurt;
- ``multimnist`` (chapter 10): the left and the right digit of a MultiMNIST image;
- ``mmoe`` (chapter 12): the two regression tasks of the MMoE paper's synthetic data at a low correlation, p = 0.5;
- ``scenes`` (chapter 13): segmentation, depth and surface normals of procedural scenes, at 12 × 12 pixels.

Every setting has ``sizes`` for the modes ``"quick"`` (the chapter's) and ``"full"``. The image settings use a small
two-layer perceptron trunk (``--quick`` gives up the earlier chapters' convolutional trunks to fit its time budget);
the scenes use the shared encoder-decoder of chapter 13 at a quarter of its width. ``tiny`` is a seconds-long
synthetic setting for tests. Test data is loaded only by ``Setting.test_data``, which the protocol calls after every
choice is made.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..architectures import mtan
from ..architectures.moe import MMoE
from ..foundations import data
from ..foundations.data import TaskData, stratified_subset, validation_split
from ..foundations.mnist import load_mnist
from ..foundations.tasks import Task, accuracy, mse_loss, r2_score
from ..foundations.train import predict
from ..settings import dense
from ..settings.multimnist import left_task, load_multimnist, right_task
from ..settings.scenes import make_scenes
from ..settings.synthetic import make_tasks

__all__ = ["Size", "Loaded", "Setting", "VectorData", "Towers", "SETTINGS"]


@dataclass(frozen=True)
class Size:
    """How big a run is: training, validation and test examples, training steps and batch size."""

    n_train: int
    n_val: int
    n_test: int
    steps: int
    batch_size: int = 64


@dataclass(frozen=True)
class Loaded:
    """A setting's training and validation data: the tasks trained, the tasks scored (Δm% is over these)."""

    tasks: list[Task]
    scored: list[Task]
    train: TaskData
    val: TaskData


@dataclass(frozen=True)
class Setting:
    """One benchmark problem. ``load(size)`` gives the training and validation data, ``test_data(size)`` the test
    data; ``build(tasks)`` a multi-task network; ``score(model, tasks, data)`` one metric per scored task, with
    ``lower_is_better`` naming the tasks whose metric is an error. The single-task reference is ``Towers``: one
    network per scored task, built by ``build([task])``."""

    name: str
    about: str
    sizes: Mapping[str, Size]
    load: Callable[[Size], Loaded]
    test_data: Callable[[Size], TaskData]
    build: Callable[[Sequence[Task]], nn.Module]
    score: Callable[[nn.Module, Sequence[Task], TaskData], dict[str, float]]
    lower_is_better: tuple[str, ...] = ()


class VectorData(TaskData):
    """``TaskData`` for float feature vectors ``[N, d]`` (the synthetic tasks): batches are the vectors as they are."""

    def __post_init__(self) -> None:
        if not self.images.is_floating_point() or self.images.dim() != 2:
            raise ValueError(f"features must be float [N, d], got {self.images.dtype} {tuple(self.images.shape)}")
        for name, t in self.targets.items():
            if len(t) != len(self.images):
                raise ValueError(f"target {name!r} has {len(t)} rows but there are {len(self.images)} inputs")

    def subset(self, index: torch.Tensor) -> VectorData:
        return VectorData(self.images[index], {k: v[index] for k, v in self.targets.items()})

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for start in range(0, len(self), batch_size):
            idx = order[start:start + batch_size]
            yield self.images[idx], {k: v[idx] for k, v in self.targets.items()}


class Towers(nn.Module):
    """One network per task, nothing shared: ``build([task])`` for each. Trained in one ``fit`` call, each tower
    sees only its own task's gradient, so it is the single-task network of its task."""

    def __init__(self, tasks: Sequence[Task], build: Callable[[Sequence[Task]], nn.Module]) -> None:
        super().__init__()
        self.towers = nn.ModuleDict({t.name: build([t]) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: tower(x)[name] for name, tower in self.towers.items()}


# --- networks --------------------------------------------------------------------------------------------------------

class MLPNet(nn.Module):
    """Hard sharing for 28 × 28 images: a trunk 784 → 64 → 32 (ReLU), one linear head per task."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.heads = nn.ModuleDict({t.name: nn.Linear(32, t.num_outputs) for t in tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: head(z) for name, head in self.heads.items()}


class BenchMMoE(MMoE):
    """MMoE with 4 experts of 16 units; its experts are the shared part (``trunk``, for the gradient methods)."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        super().__init__([t.name for t in tasks], in_dim=100, num_experts=4, expert_hidden=16)

    @property
    def trunk(self) -> nn.Module:
        return self.experts


class _Encoder(nn.Module):
    """Chapter 13's five stages (``mtan.Stage``) run in turn, resampled as ``mtan.RESAMPLE`` says."""

    def __init__(self, width: int) -> None:
        super().__init__()
        widths = (width, 2 * width, 3 * width, 2 * width, width)
        self.stages = nn.ModuleList(mtan.Stage(c_in, c_out) for c_in, c_out in zip((1, *widths[:-1]), widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage, how in zip(self.stages, mtan.RESAMPLE):
            x = stage(x)[1]
            if how == "down":
                x = nn.functional.max_pool2d(x, 2)
            elif how == "up":
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return x


class SceneNet(nn.Module):
    """Chapter 13's shared decoder (``mtan.SharedDecoderNet``) with its stages in one ``trunk`` module, so that
    MGDA-UB can read the shared representation; depth's bias starts at ``depth_bias``."""

    def __init__(self, tasks: Sequence[Task], width: int = 4, depth_bias: float = 0.0) -> None:
        super().__init__()
        self.trunk = _Encoder(width)
        self.heads = nn.ModuleDict({t.name: mtan.Head(width, t.num_outputs) for t in tasks})
        if "depth" in self.heads:
            with torch.no_grad():
                self.heads["depth"].out.bias.fill_(depth_bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: head(z) for name, head in self.heads.items()}


# --- scores ----------------------------------------------------------------------------------------------------------

def _classification_and_rmse(model: nn.Module, tasks: Sequence[Task], data: TaskData) -> dict[str, float]:
    """Accuracy for a classification task, root mean squared error for a one-output regression."""
    out = predict(model, tasks, data)
    return {t.name: accuracy(out[t.name], data.targets[t.name]) if t.num_outputs > 1
            else (out[t.name].squeeze(1) - data.targets[t.name]).pow(2).mean().sqrt().item() for t in tasks}


def _dense_scores(model: nn.Module, tasks: Sequence[Task], data: TaskData) -> dict[str, float]:
    """One headline metric per dense task: mIoU, absolute depth error, mean angle error (degrees)."""
    out = predict(model, tasks, data)
    metric = {"segmentation": lambda o, y: dense.segmentation_metrics(o, y)["mIoU"],
              "depth": lambda o, y: dense.depth_metrics(o, y)["abs err"],
              "normal": lambda o, y: dense.normal_metrics(o, y)["mean angle"]}
    return {t.name: metric[t.name](out[t.name], data.targets[t.name]) for t in tasks}


# --- data ------------------------------------------------------------------------------------------------------------

@functools.cache
def _mnist():
    mnist = load_mnist(verbose=False)
    train, val = validation_split(mnist.train)
    return train, val, mnist.test


def _first(split, n: int):
    return split.subset(torch.arange(n))


class _Standardized:
    """A label function ``(f(split) − mean) / std`` with the training split's mean and std."""

    def __init__(self, fn: Callable, train_split) -> None:
        values = fn(train_split)
        self.fn, self.mean, self.std = fn, values.mean().item(), values.std().item()

    def __call__(self, split) -> torch.Tensor:
        return (self.fn(split) - self.mean) / self.std


def _three_tasks(size: Size, test: bool = False):
    train_all, val_all, test_all = _mnist()
    train_split = train_all.subset(stratified_subset(train_all.labels, size.n_train, seed=0))
    stroke = Task("stroke", 1, _Standardized(data.stroke_width, train_split), loss=mse_loss, metric=r2_score,
                  metric_name="r2")
    tasks = [Task("digit", 10, data.digit), Task("parity", 2, data.parity), stroke]
    if test:
        return TaskData.from_split(_first(test_all, size.n_test), tasks)
    return Loaded(tasks, tasks, TaskData.from_split(train_split, tasks),
                  TaskData.from_split(_first(val_all, size.n_val), tasks))


def _noise_labels(split) -> torch.Tensor:
    """A class drawn at random for every image, the same draw every time (chapter 8's noise task)."""
    return torch.randint(0, 10, (len(split),), generator=torch.Generator().manual_seed(0))


def _conflict(size: Size, test: bool = False):
    train_all, val_all, test_all = _mnist()
    digit, noise = Task("digit", 10, data.digit), Task("noise", 10, _noise_labels)
    if test:
        return TaskData.from_split(_first(test_all, size.n_test), [digit])
    train_split = train_all.subset(stratified_subset(train_all.labels, size.n_train, seed=0))
    return Loaded([digit, noise], [digit], TaskData.from_split(train_split, [digit, noise]),
                  TaskData.from_split(_first(val_all, size.n_val), [digit]))


@functools.cache
def _composites():
    return load_multimnist(load_mnist(verbose=False))


def _multimnist(size: Size, test: bool = False):
    tasks = [left_task(), right_task()]

    def task_data(c, n):
        return TaskData(c.images[:n], {"left": c.left[:n], "right": c.right[:n]})

    train, val, test_c = _composites()
    if test:
        return task_data(test_c, size.n_test)
    return Loaded(tasks, tasks, task_data(train, size.n_train), task_data(val, size.n_val))


def _given(split) -> torch.Tensor:
    raise ValueError("the synthetic tasks' targets come with their data (VectorData), not from a label function")


def _synthetic(seed: int):
    def load(size: Size, test: bool = False):
        tasks = [Task(n, 1, _given, loss=mse_loss, metric=r2_score, metric_name="r2") for n in ("task1", "task2")]
        pool = make_tasks(size.n_train + size.n_val + size.n_test, 0.5, d=100, seed=seed)
        cuts = {"train": slice(0, size.n_train), "val": slice(size.n_train, size.n_train + size.n_val),
                "test": slice(size.n_train + size.n_val, None)}
        part = {k: VectorData(pool.x[s], {n: pool.targets[n][s] for n in ("task1", "task2")}) for k, s in cuts.items()}
        return part["test"] if test else Loaded(tasks, tasks, part["train"], part["val"])
    return load


def _mse(model: nn.Module, tasks: Sequence[Task], data: TaskData) -> dict[str, float]:
    return {name: value ** 2 for name, value in _classification_and_rmse(model, tasks, data).items()}


SCENE_SIZE = 12


@functools.cache
def _scene_pool(n_train: int, n_val: int) -> tuple[TaskData, TaskData, float]:
    pool = make_scenes(n_train + n_val, size=SCENE_SIZE, seed=13, cache=False)
    tasks = dense.dense_tasks()
    train, val = pool.subset(slice(0, n_train)), pool.subset(slice(n_train, None))
    return TaskData.from_split(train, tasks), TaskData.from_split(val, tasks), float(train.depth.mean())


def _scenes(size: Size, test: bool = False):
    tasks = dense.dense_tasks()
    if test:  # another seed: scenes never seen in training, as in chapter 13
        return TaskData.from_split(make_scenes(size.n_test, size=SCENE_SIZE, seed=1013, cache=False), tasks)
    train, val, _ = _scene_pool(size.n_train, size.n_val)
    return Loaded(tasks, tasks, train, val)


def _scene_net(tasks: Sequence[Task]) -> nn.Module:
    depth_bias = _scene_pool(*_SCENE_SIZES)[2]
    return SceneNet(tasks, width=4, depth_bias=depth_bias)


_SCENE_SIZES = (300, 100)  # train and validation scenes of both modes (the pool is shared, so the depth bias too)


def _setting(name: str, about: str, sizes: Mapping[str, Size], load, build, score, lower=()) -> Setting:
    return Setting(name, about, dict(sizes), lambda size: load(size), lambda size: load(size, test=True), build,
                   score, tuple(lower))


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    _setting("three-tasks", "chapter 7: digit, parity and standardized stroke width on MNIST",
             {"quick": Size(2000, 1000, 2000, 100), "full": Size(8000, 10_000, 10_000, 1000)},
             _three_tasks, MLPNet, _classification_and_rmse, ["stroke"]),
    _setting("conflict", "chapter 8: the digit beside random labels (scored on the digit)",
             {"quick": Size(1000, 1000, 2000, 100), "full": Size(1000, 10_000, 10_000, 800)},
             _conflict, MLPNet, _classification_and_rmse),
    _setting("multimnist", "chapter 10: left and right digit of MultiMNIST",
             {"quick": Size(3000, 1000, 2000, 100), "full": Size(50_000, 10_000, 10_000, 4000, 256)},
             _multimnist, MLPNet, _classification_and_rmse),
    _setting("mmoe", "chapter 12: the MMoE synthetic regression tasks at p = 0.5",
             {"quick": Size(2000, 1000, 2000, 100), "full": Size(10_000, 2000, 10_000, 2000, 128)},
             _synthetic(12), BenchMMoE, _mse, ["task1", "task2"]),
    _setting("scenes", "chapter 13: segmentation, depth and normals of 12 x 12 procedural scenes",
             {"quick": Size(*_SCENE_SIZES, 200, 40, 16), "full": Size(*_SCENE_SIZES, 500, 600, 32)},
             _scenes, _scene_net, _dense_scores, ["depth", "normal"]),
    _setting("tiny", "for tests: the synthetic tasks at a few hundred samples and 20 steps",
             {"quick": Size(256, 128, 128, 20, 32), "full": Size(256, 128, 128, 40, 32)},
             _synthetic(0), BenchMMoE, _mse, ["task1", "task2"]),
]}
