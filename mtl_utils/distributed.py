"""Data-parallel multi-task training with ``torch.distributed`` (introduced in the appendix on scaling out).

Each worker (rank) holds the whole hard-sharing network and reads its own shard of every global batch.
``DistributedDataParallel`` averages the gradient of the loss each worker back-propagates, which is right for a
weighted sum of task losses: the average of the workers' ``∇ Σ_t α_t L_t`` is the gradient on the global batch.

Methods that combine *per-task* gradients (PCGrad, MGDA) need more: the combination is not linear in the data, so
combining each worker's local task gradients and then averaging (``"naive"``) is not the update the method would
make on the global batch. The right way (``"per_task"``) averages each task's gradient over the workers first, then
combines them: ``T`` rows of the shared parameters' size go over the network instead of one.

Run ``torchrun --nproc-per-node=2 -m mtl_utils.distributed --help``; ``launch`` does that from Python.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .foundations.data import TaskData, normalize, validation_split
from .foundations.mnist import load_mnist
from .foundations.models import HardSharingNet
from .foundations.tasks import Task, digit_task, parity_task
from .optimization.weighting import min_norm_weights, pcgrad_weights, task_gradients

__all__ = ["MODES", "global_batches", "rank_batches", "combine", "train", "launch"]

MODES = ("sum", "per_task", "naive")
METHODS = ("pcgrad", "mgda")


def global_batches(n: int, batch_size: int, steps: int, seed: int) -> torch.Tensor:
    """``[steps, batch_size]`` image indices: a seeded permutation of ``range(n)`` per epoch, cut into batches.

    Every worker computes the same order; in an epoch each image appears once (a last partial batch is dropped).
    """
    if min(n, batch_size, steps) < 1 or batch_size > n:
        raise ValueError(f"need 1 <= batch_size <= n and steps >= 1, got n={n}, batch_size={batch_size}, "
                         f"steps={steps}")
    per_epoch = n // batch_size
    gen = torch.Generator().manual_seed(seed)
    epochs = [torch.randperm(n, generator=gen)[: per_epoch * batch_size].view(per_epoch, batch_size)
              for _ in range(-(-steps // per_epoch))]
    return torch.cat(epochs)[:steps]


def rank_batches(batches: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Worker ``rank``'s shard of every global batch: a contiguous ``1/world`` slice. The shards are disjoint and,
    over an epoch, cover every image once."""
    if not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, {world}), got {rank}")
    if batches.shape[1] % world:
        raise ValueError(f"the global batch ({batches.shape[1]}) must divide evenly among {world} workers")
    return batches.view(len(batches), world, -1)[:, rank]


def combine(jacobian: torch.Tensor, method: str, generator: torch.Generator) -> torch.Tensor:
    """The shared parameters' update direction ``Σ_t w_t g_t`` from the task gradients ``[T, P]``."""
    gramian = jacobian @ jacobian.T
    if method == "pcgrad":
        w = pcgrad_weights(gramian, generator)
    elif method == "mgda":
        w = min_norm_weights(gramian)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return w @ jacobian


def _average(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(t)
        t /= world
    return t


def _set_grads(params: Sequence[nn.Parameter], flat: torch.Tensor) -> None:
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad = g.view_as(p).clone()


def train(model: HardSharingNet, tasks: Sequence[Task], data: TaskData, batches: torch.Tensor, mode: str = "sum",
          method: str = "pcgrad", lr: float = 0.05, rank: int = 0, world: int = 1, seed: int = 0) -> list[float]:
    """Train ``model`` with SGD on the global ``batches`` (``global_batches``), this worker reading its shard.

    ``mode``: ``"sum"`` back-propagates Σ_t L_t through DDP; ``"per_task"`` averages each task's gradient of the
    shared trunk over the workers, then combines them with ``method``; ``"naive"`` combines each worker's local
    task gradients, then averages. The heads always get their own task's averaged gradient. Returns the loss of
    each step on this worker's shard. With ``world == 1`` no process group is needed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if world > 1 and not dist.is_initialized():
        raise ValueError("world > 1 needs an initialized process group (run under torchrun, see launch)")
    shared = list(model.trunk.parameters())
    heads = [p for p in model.parameters() if all(p is not q for q in shared)]
    net = DistributedDataParallel(model) if mode == "sum" and world > 1 else model
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for index in rank_batches(batches, rank, world):
        x = normalize(data.images[index])
        outputs = net(x)
        losses = torch.stack([t.loss(outputs[t.name], data.targets[t.name][index]) for t in tasks])
        opt.zero_grad(set_to_none=True)
        if mode == "sum":
            losses.sum().backward()  # DDP averages the gradients over the workers during the backward pass
        else:
            jacobian = task_gradients(losses, shared)
            if mode == "per_task":
                update = combine(_average(jacobian, world), method, gen)
            else:
                update = _average(combine(jacobian, method, gen), world)
            head_grads = torch.autograd.grad(losses.sum(), heads)
            _set_grads(shared, update)
            _set_grads(heads, _average(torch.cat([g.flatten() for g in head_grads]), world))
        opt.step()
        history.append(losses.sum().item())
    return history


def _worker(args: argparse.Namespace) -> None:
    """One rank's run under torchrun: build the same model and batches on every rank, train, rank 0 saves."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    torch.set_num_threads(1)
    tasks = [digit_task(), parity_task()]
    train_split, _ = validation_split(load_mnist(verbose=False).train)
    data = TaskData.from_split(train_split.subset(torch.arange(args.images)), tasks)
    batches = global_batches(len(data), args.global_batch, args.steps, args.seed)
    results = {}
    for mode in args.modes.split(","):
        torch.manual_seed(args.seed)
        model = HardSharingNet.for_tasks(tasks)
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        losses = train(model, tasks, data, batches, mode, args.method, args.lr, rank, world, args.seed)
        results[mode] = {"state_dict": model.state_dict(), "losses": losses,
                         "seconds": time.perf_counter() - start, "world": world}
    if rank == 0:
        torch.save(results, args.out)
    if world > 1:
        dist.destroy_process_group()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", default="sum", help=f"comma-separated, from {MODES}; each starts from the same weights")
    p.add_argument("--method", choices=METHODS, default="pcgrad")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--global-batch", type=int, default=64, help="images per step, summed over the workers")
    p.add_argument("--images", type=int, default=5000, help="train on the first N of the book's 50,000")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="where rank 0 saves the weights and losses")
    return p


def launch(nproc: int, modes: Sequence[str] = ("sum",), timeout: float = 300, **options) -> dict[str, dict]:
    """Run ``python -m mtl_utils.distributed`` on ``nproc`` local CPU processes (``torchrun --standalone``, gloo).

    Each of ``modes`` trains from the same initial weights, in one launch (starting workers takes seconds).
    ``options`` are the other command-line options without dashes (``steps=20, method="mgda"``). Returns, per
    mode, what rank 0 saved: ``state_dict``, ``losses``, ``seconds`` (the training loop's time) and ``world``.
    """
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive int, got {nproc!r}")
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty list from {MODES}, got {list(modes)}")
    options["modes"] = ",".join(modes)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.pt"
        cli = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "mtl_utils.distributed", *cli, f"--out={out}"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per process (and no torchrun warning about it)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"the distributed run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return torch.load(out, weights_only=True)


if __name__ == "__main__":
    _worker(_parser().parse_args())
