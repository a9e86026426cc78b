"""Seconds per epoch: the article's training loop against ``mtl_utils.foundations.train.fit``, same network, batch and optimizer.

(a) the article's loop: ``torchvision.datasets.MNIST`` with ``ToTensor`` and ``Normalize``, a ``DataLoader`` with
    2 workers and batch 100, the two-headed LeNet returning (digit, parity), SGD lr 1e-3 momentum 0.9;
(b) ``fit`` with ``ARTICLE_RECIPE`` (the same batch and optimizer) on the in-memory tensors of ``load_mnist``.

The two alternate A B A B so that a change in the machine's load hits both alike. Each repetition is one epoch
(or ``--steps`` steps, scaled to an epoch, for a quick run). The last line reads ``ratio article/mtl_utils = N.NN``
(median over median). Never downloads: torchvision reads the raw files that ``mtl_utils.foundations.mnist.locate`` finds.

    MTL_DATA_DIR=/path/to/data python bench/train_speed.py --reps 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from machine_info import cpu_model, load_average
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from mtl_utils import (
    ARTICLE_RECIPE,
    HardSharingNet,
    TaskData,
    fit,
    load_mnist,
    seed_everything,
)
from mtl_utils.foundations.mnist import locate
from mtl_utils.foundations.tasks import digit_task, parity_task

TASKS = [digit_task(), parity_task()]
BATCH = ARTICLE_RECIPE.batch_size


class ArticleNet(nn.Module):
    """The article's two-headed LeNet, as the article writes it: conv, ReLU, pool; two linear heads."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2 = nn.Linear(16 * 4 * 4, 120), nn.Linear(120, 84)
        self.digit_head, self.parity_head = nn.Linear(84, 10), nn.Linear(84, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return self.digit_head(x), self.parity_head(x)


def article_epoch(loader: DataLoader, steps: int) -> float:
    """Wall seconds for one epoch of the article's loop, worker start-up included.

    With ``steps`` < an epoch, the start-up (until the first batch arrives) counts once and the steps are scaled.
    """
    seed_everything(0)
    net = ArticleNet()
    opt = torch.optim.SGD(net.parameters(), lr=ARTICLE_RECIPE.lr, momentum=ARTICLE_RECIPE.momentum)
    start = time.perf_counter()
    startup, running = 0.0, 0.0
    for i, (x, y) in enumerate(loader):
        if i == 0:
            startup = time.perf_counter() - start
        if i == steps:
            break
        digit_out, parity_out = net(x)
        loss = F.cross_entropy(digit_out, y) + F.cross_entropy(parity_out, (y % 2 == 0).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
        running += loss.item()
    return startup + (time.perf_counter() - start - startup) * len(loader) / steps


def mtl_utils_epoch(train: TaskData, steps: int, full: int) -> float:
    """Wall seconds for one epoch of ``fit`` with the article's recipe (the whole call; ``steps`` scaled to ``full``)."""
    seed_everything(0)
    net = HardSharingNet.for_tasks(TASKS)
    start = time.perf_counter()
    fit(net, TASKS, train, recipe=replace(ARTICLE_RECIPE, epochs=1), steps_per_epoch=steps, progress=False)
    return (time.perf_counter() - start) * full / steps


def machine() -> str:
    """CPU model, cores, load and versions, for the report."""
    return (f"{cpu_model()}, {os.cpu_count()} cores, load {load_average():.2f}, torch {torch.__version__}, "
            f"default threads {torch.get_num_threads()}, MTL_THREADS={os.environ.get('MTL_THREADS', '1')}")


def summary(name: str, seconds: list[float]) -> str:
    return (f"{name:<10} s/epoch  median {statistics.median(seconds):6.2f}  min {min(seconds):6.2f}  "
            f"max {max(seconds):6.2f}  ({len(seconds)} reps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each loop (default 3)")
    parser.add_argument("--steps", type=int, default=None,
                        help="train this many steps per repetition instead of a full epoch (times are scaled)")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    root, _ = locate(allow_download=False)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    loader = DataLoader(datasets.MNIST(root, train=True, transform=tf, download=False),
                        batch_size=BATCH, shuffle=True, num_workers=2)
    train = TaskData.from_split(load_mnist(verbose=False).train, TASKS)
    full = len(loader)
    steps = full if args.steps is None else args.steps
    if not 1 <= steps <= full:
        parser.error(f"--steps must be between 1 and {full}")
    print(machine())
    print(f"{steps} steps of batch {BATCH} per repetition" + (f", scaled to an epoch of {full}" if steps < full else ""))
    times: dict[str, list[float]] = {"article": [], "mtl_utils": []}
    for rep in range(1, args.reps + 1):
        a = article_epoch(loader, steps)
        b = mtl_utils_epoch(train, steps, full)
        times["article"].append(a)
        times["mtl_utils"].append(b)
        print(f"rep {rep}: article {a:.2f} s/epoch, mtl_utils {b:.2f} s/epoch", flush=True)
    for name, seconds in times.items():
        print(summary(name, seconds))
    # The two loops of one repetition ran back to back, so their ratio shows how much the machine's noise moves it.
    paired = [a / b for a, b in zip(times["article"], times["mtl_utils"])]
    print("ratio within each repetition: " + " ".join(f"{r:.2f}" for r in paired))
    ratio = statistics.median(times["article"]) / statistics.median(times["mtl_utils"])
    print(f"ratio article/mtl_utils = {ratio:.2f}")


if __name__ == "__main__":
    main()
