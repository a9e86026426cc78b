"""Two regression tasks whose relatedness is a dial: the synthetic data of the MMoE paper (Ma et al., 2018, §3.2).

Draw orthonormal u₁, u₂ ∈ ℝᵈ and set w₁ = c·u₁, w₂ = c·(p·u₁ + √(1 − p²)·u₂), so that cos(w₁, w₂) = p. Draw
x ~ N(0, I_d) and label it y_t = w_tᵀx + Σ_{k=1}^{m} sin(α_k·w_tᵀx + β_k) + ε_t with ε_t ~ N(0, σ²). Only p changes
how related the two tasks are: each task alone is equally hard for every p (w₂ is a unit vector rotated in the plane
of u₁ and u₂, and x is isotropic).

The paper does not give c, m, α_k, β_k, nor whether its noise level 0.01 is a variance. The values here are those of
the public generator in the google-research/google-research repository ("Simple generator for synthetic multi-task
data", Apache 2.0): c = 1, m = 10, α_k = k, β_k = (k − 1)² for k = 1…m (its ``i ** 2 for i in range(m)``), noise
standard deviation 0.01. They are kept in ``DEFAULTS`` and nowhere else. Introduced in chapter 12.

One seed fixes u₁, u₂, x and the noise; p enters only through w₂. So data sets for several p built from one seed
share their inputs, the first task's labels exactly, and the second task's noise: a change of p is a paired change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["DEFAULTS", "SyntheticTasks", "task_weights", "make_tasks", "label_correlation"]

#: The generator's free constants, whose source the module docstring gives. They are the scale c, the number of sines
#: m and the noise standard deviation; α_k = k and β_k = (k − 1)², k = 1…m, follow from m.
DEFAULTS: dict[str, float] = {"c": 1.0, "m": 10, "noise_std": 0.01}


@dataclass(frozen=True)
class SyntheticTasks:
    """Inputs ``x`` ``[n, d]``, one target ``[n]`` per task in ``targets``, and the task weights ``w`` ``[2, d]``."""

    x: torch.Tensor
    targets: dict[str, torch.Tensor]
    w: torch.Tensor
    p: float

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: torch.Tensor | slice) -> "SyntheticTasks":
        """The same tasks on a subset of the samples (e.g. a train/validation/test split)."""
        return SyntheticTasks(self.x[index], {k: v[index] for k, v in self.targets.items()}, self.w, self.p)


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not -1.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a number in [-1, 1] (the cosine between the task weights), got {p!r}")
    return float(p)


def _check_int(value: int, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int of at least {least}, got {value!r}")
    return value


def task_weights(p: float, d: int = 100, c: float = DEFAULTS["c"],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``[w₁, w₂]`` as a ``[2, d]`` float64 tensor with ‖w_t‖ = c and cos(w₁, w₂) = p.

    u₁, u₂ are the first two columns of the Q factor of a Gaussian ``[d, 2]`` matrix: a random orthonormal pair.
    """
    p, d = _check_p(p), _check_int(d, "d", 2)
    if not c > 0:
        raise ValueError(f"c must be positive, got {c!r}")
    q, r = torch.linalg.qr(torch.randn(d, 2, generator=generator, dtype=torch.float64))
    u = (q * torch.sign(torch.diagonal(r))).T  # sign-fixed, so the pair is a function of the draw alone
    return c * torch.stack([u[0], p * u[0] + math.sqrt(1.0 - p * p) * u[1]])


def make_tasks(n: int, p: float, d: int = 100, seed: int = 0, c: float = DEFAULTS["c"], m: int = DEFAULTS["m"],
               noise_std: float = DEFAULTS["noise_std"], names: tuple[str, str] = ("task1", "task2")
               ) -> SyntheticTasks:
    """``n`` samples of the two tasks with correlation dial ``p``, drawn from ``seed`` (float32 x and targets).

    The draws are made in a fixed order (u, then x, then the noise), so ``make_tasks(n, p, seed=s)`` for two values
    of p differ only in the second task's labels.
    """
    n, m = _check_int(n, "n", 1), _check_int(m, "m", 1)
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std!r}")
    if len(names) != 2 or len(set(names)) != 2:
        raise ValueError(f"names must be two distinct task names, got {names!r}")
    gen = torch.Generator().manual_seed(seed)
    w = task_weights(p, d, c, gen)
    x = torch.randn(n, _check_int(d, "d", 2), generator=gen, dtype=torch.float64)
    noise = noise_std * torch.randn(2, n, generator=gen, dtype=torch.float64)
    k = torch.arange(1, m + 1, dtype=torch.float64)
    alpha, beta = k, (k - 1) ** 2
    z = x @ w.T  # [n, 2]: w_tᵀx
    y = z + torch.sin(alpha * z.unsqueeze(-1) + beta).sum(-1) + noise.T
    return SyntheticTasks(x.float(), {names[0]: y[:, 0].float(), names[1]: y[:, 1].float()}, w, p)


def label_correlation(data: SyntheticTasks) -> float:
    """Pearson correlation between the two tasks' targets: how related the labels are, as the paper's Fig. 2 shows."""
    if len(data.targets) != 2 or len(data) < 2:
        raise ValueError("label_correlation needs two tasks and at least two samples")
    a, b = (t.double() for t in data.targets.values())
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
