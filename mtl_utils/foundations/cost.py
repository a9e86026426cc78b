"""What a model costs: parameters, FLOPs per image (PyTorch's own FLOP counter) and inference latency."""
from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_image(model: nn.Module, input_shape: tuple[int, ...] = (1, 28, 28)) -> int:
    """Forward-pass FLOPs for one image, counted by ``torch.utils.flop_counter`` (a multiply-add counts as 2)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops()


@torch.inference_mode()
def latency_ms(model: nn.Module, batch_size: int = 1000, repeats: int = 5,
               input_shape: tuple[int, ...] = (1, 28, 28)) -> float:
    """Median wall-clock milliseconds for one forward pass over a batch, after one warm-up pass."""
    if batch_size < 1 or repeats < 1:
        raise ValueError("batch_size and repeats must be positive")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.zeros(batch_size, *input_shape, device=device)
    model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    model.train(was_training)
    return 1000 * sorted(times)[len(times) // 2]
