"""Seeds, spreads and one summary measure across tasks: the book's evidence rules in code.

Every comparison that a claim rests on is run over ``seeds()`` (at least three), reported as mean ± standard
deviation, and called real only when the difference is larger than the spread. ``MTL_SEED_OFFSET`` shifts every
seed, so a reader can check that a chapter's asserted claims hold for other seeds too. ``delta_m`` is the multi-task
summary Δm% of Maninis et al. (2019) and Vandenhende et al. (2021), with the sign convention "positive is better".
"""
from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping

import pandas as pd

__all__ = ["seeds", "binomial_se", "mean_std", "summarize", "delta_m"]


def seeds(n: int = 3) -> list[int]:
    """The ``n`` seeds a chapter runs: ``offset, offset + 1, …`` with ``offset = $MTL_SEED_OFFSET`` (default 0)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    offset = os.environ.get("MTL_SEED_OFFSET", "0")
    if not offset.lstrip("-").isdigit():
        raise ValueError(f"MTL_SEED_OFFSET must be an integer, got {offset!r}")
    return [int(offset) + i for i in range(n)]


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent test images: √(p(1 − p) / n)."""
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return math.sqrt(accuracy * (1 - accuracy) / n)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1) of per-seed results; needs at least two values."""
    values = [float(v) for v in values]
    if len(values) < 2:
        raise ValueError(f"a spread needs at least two seeds, got {len(values)} value(s)")
    if any(math.isnan(v) for v in values):
        raise ValueError(f"values contain NaN: {values}")
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarize(runs: pd.DataFrame, by: str | list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Per-group mean, std and number of seeds of ``columns`` (default: every numeric column), one row per group.

    ``runs`` holds one row per (group, seed). The result has two column levels, ``(column, "mean" | "std" | "n")``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in keys + (columns or []) if c not in runs.columns]
    if missing:
        raise ValueError(f"no column(s) {missing} in the runs; they have {list(runs.columns)}")
    columns = columns or [c for c in runs.select_dtypes("number").columns if c not in keys and c != "seed"]
    if not columns:
        raise ValueError("no numeric columns to summarize")
    return runs.groupby(keys, sort=False)[columns].agg(["mean", "std", "count"]).rename(columns={"count": "n"})


def delta_m(metrics: Mapping[str, float], single: Mapping[str, float],
            lower_is_better: Collection[str] = ()) -> float:
    """Δm% = (1/T) Σ_t (−1)^{l_t} (M_t − M_t^single) / M_t^single × 100, with l_t = 1 where lower is better.

    Positive means the multi-task model is better on average than the single-task baselines, in relative terms.
    """
    if set(metrics) != set(single) or not metrics:
        raise ValueError(f"metrics and single-task baselines must name the same tasks, got {sorted(metrics)} and "
                         f"{sorted(single)}")
    unknown = sorted(set(lower_is_better) - set(metrics))
    if unknown:
        raise ValueError(f"lower_is_better names unknown task(s) {unknown}")
    total = 0.0
    for task, value in metrics.items():
        base = float(single[task])
        if base == 0 or not math.isfinite(base) or not math.isfinite(float(value)):
            raise ValueError(f"task {task!r}: Δm needs finite metrics and a non-zero baseline, got {value} vs {base}")
        sign = -1.0 if task in lower_is_better else 1.0
        total += sign * (float(value) - base) / abs(base)
    return 100 * total / len(metrics)
