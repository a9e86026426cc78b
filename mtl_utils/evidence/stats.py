"""Seeds, paired intervals, verdicts and one summary measure across tasks: the book's evidence rules in code.

The evidence convention, used by every chapter:

* A method comparison that a claim, an assert or a concluding sentence rests on runs over ``seeds()``: at least
  five seeds. ``MTL_SEED_OFFSET`` shifts every seed, so a reader can check that the asserted claims hold for other
  seeds.
* It is reported as the **paired difference with its 95% interval** over seeds (``paired``): the runs of one seed pair
  up across the two arms, and the interval is Student t (or a percentile bootstrap where t fits poorly).
* **The verb follows the interval**: ``verdict`` says "better"/"worse" (or a chapter's own verbs) only when the
  interval excludes 0, and "no difference detected (the interval … allows either)" otherwise; ``paired_table`` puts
  the same words in a results table, so prose, tables and asserts agree.
* **Asserts test the interval's bound on the claimed side** (``claim``): a claimed gain needs ``lo > 0``, a claimed
  loss ``hi < 0``. A null is never asserted as a fact.
* A rank correlation over a few items (``rank_correlation``) gets an exact permutation p-value.
* Descriptive numbers (a parameter count, one model's test accuracy with its ``binomial_se``, ``mean_std`` of a
  spread) need no interval.

``delta_m`` is the multi-task summary Δm% of Maninis et al. (2019) and Vandenhende et al. (2021), with the sign
convention "positive is better". Only numpy and pandas are needed at run time: the t distribution is computed here.
"""
from __future__ import annotations

import itertools
import math
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["seeds", "binomial_se", "mean_std", "summarize", "delta_m", "t_cdf", "t_quantile", "Paired", "paired",
           "verdict", "claim", "paired_table", "RankCorrelation", "rank_correlation"]


def seeds(n: int = 5) -> list[int]:
    """The ``n`` seeds a chapter runs: ``offset, offset + 1, …`` with ``offset = $MTL_SEED_OFFSET`` (default 0).

    A method comparison uses at least five seeds (the default), so that its paired interval is not hopelessly wide.
    """
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


# --- Student t distribution, without scipy ---------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes ``betacf``)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise RuntimeError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b), from ``math.lgamma`` and the continued fraction."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _t_two_sided(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's T with ``df`` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2)."""
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's T with ``df`` degrees of freedom (what ``scipy.stats.t.cdf`` gives)."""
    if not df > 0:
        raise ValueError(f"df must be positive, got {df!r}")
    if math.isnan(t):
        raise ValueError("t is NaN")
    tail = 0.5 * _t_two_sided(t, df)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's T with ``df`` degrees of freedom (what ``scipy.stats.t.ppf`` gives).

    Bisection on the upper tail probability, so tail quantiles (``p`` near 0 or 1) stay accurate; about 1e-10.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if not df > 0:
        raise ValueError(f"df must be positive, got {df!r}")
    if p == 0.5:
        return 0.0
    q = min(p, 1.0 - p)  # the one-sided tail probability P(T ≥ t) we solve for, t > 0
    lo, hi = 0.0, 1.0
    while 0.5 * _t_two_sided(hi, df) > q:
        lo, hi = hi, 2.0 * hi
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if 0.5 * _t_two_sided(mid, df) > q:
            lo = mid
        else:
            hi = mid
    t = 0.5 * (lo + hi)
    return t if p > 0.5 else -t


# --- Paired differences over seeds -----------------------------------------------------------------------------------

def _fmt(value: float, digits: int) -> str:
    """Signed, with the sign of the value itself: an interval's end just below 0 prints as "-0.00", so that
    "[-0.00, +0.38]" reads as reaching 0, as its verdict says; an exact 0 prints as "+0.00"."""
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if value == 0 else text


@dataclass(frozen=True)
class Paired:
    """A paired difference ``a − b`` over seeds: its mean, its interval ``[lo, hi]`` and the two-sided p-value."""

    mean: float
    lo: float
    hi: float
    n: int
    p: float
    method: str
    confidence: float

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0: the only case in which the prose may name a winner."""
        return self.lo > 0 or self.hi < 0

    def format(self, digits: int = 2) -> str:
        """``"+1.23 [+0.45, +2.01]"``: the mean difference and its interval, signed, with ``digits`` decimals."""
        return f"{_fmt(self.mean, digits)} [{_fmt(self.lo, digits)}, {_fmt(self.hi, digits)}]"

    def __str__(self) -> str:
        return self.format()


def _values(x: Any, what: str) -> np.ndarray:
    values = np.asarray(x.to_numpy() if isinstance(x, pd.Series) else x, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional (one value per seed), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or inf: {values.tolist()}")
    return values


def _aligned(a: Any, b: Any, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Two equal-length arrays; two Series are aligned on their index, which must hold the same labels."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if a.index.has_duplicates or b.index.has_duplicates:
            raise ValueError(f"duplicate {label} in the index: {a.index.tolist()} and {b.index.tolist()}")
        if set(a.index) != set(b.index):
            only_a = sorted(set(a.index) - set(b.index), key=str)
            only_b = sorted(set(b.index) - set(a.index), key=str)
            raise ValueError(f"unpaired {label}: {only_a} only in the first, {only_b} only in the second")
        b = b.reindex(a.index)
    x, y = _values(a, "the first argument"), _values(b, "the second argument")
    if len(x) != len(y):
        raise ValueError(f"unequal lengths: {len(x)} and {len(y)} values; pairs need one value per seed in each")
    return x, y


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _check_n_boot(n_boot: int) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")


def paired(a: Any, b: Any = None, *, method: str = "t", confidence: float = 0.95, n_boot: int = 10_000,
           rng_seed: int = 0) -> Paired:
    """The mean of the per-seed differences ``a − b``, with its ``confidence`` interval and two-sided p-value.

    ``a`` and ``b`` hold one value per seed for two arms: equal-length sequences paired by position, or two pandas
    Series indexed by seed (aligned on the index; different seed sets are an error). ``b`` may be a number (``0``) or
    ``None`` to test ``a`` itself against zero, e.g. a list of per-seed gains. Pairing by seed removes the part of the
    seed-to-seed noise that both arms share, which is why the book compares methods this way.

    ``method="t"``: Student t interval ``mean ± t_{(1+c)/2, n−1} · sd/√n`` and the paired t test's p (as
    ``scipy.stats.ttest_rel``). ``method="bootstrap"``: percentile interval of the mean over ``n_boot`` resamples of
    the differences (``numpy`` Generator seeded with ``rng_seed``, so deterministic), and p =
    2·min(share of resampled means ≤ 0, share ≥ 0), clipped to [1/n_boot, 1].
    If every difference is the same, the interval is that value and p is 0 (or 1 when it is 0).
    """
    if method not in ("t", "bootstrap"):
        raise ValueError(f"unknown method {method!r}; use 't' or 'bootstrap'")
    _check_confidence(confidence)
    if b is None or (np.ndim(b) == 0 and not isinstance(b, (str, bytes))):
        base = 0.0 if b is None else float(b)
        if not math.isfinite(base):
            raise ValueError(f"the second argument contains NaN or inf: {b!r}")
        diffs = _values(a, "the first argument") - base
    else:
        x, y = _aligned(a, b, "seeds")
        diffs = x - y
    n = len(diffs)
    if n < 2:
        raise ValueError(f"a paired interval needs at least two seeds, got {n} pair(s)")
    mean = float(diffs.mean())
    if np.all(diffs == diffs[0]):
        mean = float(diffs[0])
        return Paired(mean, mean, mean, n, 0.0 if mean != 0 else 1.0, method, confidence)
    if method == "t":
        se = float(diffs.std(ddof=1)) / math.sqrt(n)
        half = t_quantile((1.0 + confidence) / 2.0, n - 1) * se
        p = _t_two_sided(mean / se, n - 1)
        return Paired(mean, mean - half, mean + half, n, float(min(max(p, 0.0), 1.0)), method, confidence)
    _check_n_boot(n_boot)
    rng = np.random.default_rng(rng_seed)
    means = diffs[rng.integers(0, n, size=(int(n_boot), n))].mean(axis=1)
    lo, hi = np.quantile(means, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    p = 2.0 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0)))
    return Paired(mean, float(lo), float(hi), n, min(max(p, 1.0 / n_boot), 1.0), method, confidence)


def verdict(result: Paired, *, unit: str = "", better: str = "better", worse: str = "worse",
            digits: int = 2) -> str:
    """The words the prose may use for ``result``: the verb follows the interval.

    ``"better by +1.23 [+0.45, +2.01] points"`` when the interval lies above 0, ``"worse by -0.80 [-1.20, -0.40]
    points"`` when it lies below, else ``"no difference detected (the interval [-0.30, +0.50] points allows
    either)"``. ``unit`` (e.g. ``"points"``) follows the numbers; ``better``/``worse`` let a chapter say
    ``"helps"``/``"hurts"``.
    """
    suffix = f" {unit}" if unit else ""
    if result.lo > 0:
        return f"{better} by {result.format(digits)}{suffix}"
    if result.hi < 0:
        return f"{worse} by {result.format(digits)}{suffix}"
    interval = f"[{_fmt(result.lo, digits)}, {_fmt(result.hi, digits)}]"
    return f"no difference detected (the interval {interval}{suffix} allows either)"


def claim(result: Paired, side: str) -> None:
    """Assert the claimed side of a comparison: ``"positive"`` needs ``lo > 0``, ``"negative"`` needs ``hi < 0``.

    Tests the interval's bound on the side the sentence claims, never a null; the message carries the verdict.
    """
    if side == "positive":
        ok = result.lo > 0
    elif side == "negative":
        ok = result.hi < 0
    else:
        raise ValueError(f"side must be 'positive' or 'negative', got {side!r}")
    if not ok:
        raise AssertionError(f"claimed a {side} difference, but the data say: {verdict(result)} "
                             f"(n = {result.n}, p = {result.p:.3g})")


def paired_table(rows: Mapping[str, Paired], unit: str = "", *, digits: int = 2) -> pd.DataFrame:
    """A results table, one row per comparison: difference, interval, n, p and the ``verdict`` words.

    Chapters build their tables with it, so that the table, the prose and the asserts say the same thing. The
    interval column is named after the rows' common confidence (``"95% interval"``).
    """
    if not rows:
        raise ValueError("no comparisons to tabulate")
    levels = {r.confidence for r in rows.values()}
    if len(levels) != 1:
        raise ValueError(f"the rows mix confidence levels {sorted(levels)}; tabulate them separately")
    column = f"{100 * levels.pop():g}% interval"
    table = pd.DataFrame(
        [{"difference": _fmt(r.mean, digits), column: f"[{_fmt(r.lo, digits)}, {_fmt(r.hi, digits)}]", "n": r.n,
          "p": r.p, "verdict": verdict(r, unit=unit, digits=digits)} for r in rows.values()],
        index=pd.Index(list(rows), name="comparison"))
    return table


# --- Rank correlation over a few items -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's ρ, its permutation p-value (``exact``: over all n! orders) and its bootstrap interval."""

    rho: float
    p: float
    lo: float
    hi: float
    n: int
    exact: bool
    alternative: str

    def __str__(self) -> str:
        kind = "exact" if self.exact else "permutation"
        interval = f"[{_fmt(self.lo, 2)}, {_fmt(self.hi, 2)}]"
        return f"ρ = {_fmt(self.rho, 2)} {interval}, {kind} p = {self.p:.3g} (n = {self.n})"


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) along the last axis, in chunks to bound memory."""
    x = np.atleast_2d(x)
    out = np.empty_like(x, dtype=float)
    n = x.shape[-1]
    step = max(1, 4_000_000 // max(1, n * n))
    for start in range(0, x.shape[0], step):
        block = x[start:start + step]
        less = (block[:, :, None] > block[:, None, :]).sum(-1)
        equal = (block[:, :, None] == block[:, None, :]).sum(-1)
        out[start:start + step] = less + (equal + 1) / 2.0
    return out


def _pearson_rows(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation; nan where a row is constant."""
    dx = rx - rx.mean(axis=-1, keepdims=True)
    dy = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((dx * dx).sum(-1) * (dy * dy).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (dx * dy).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def rank_correlation(x: Any, y: Any, *, alternative: str = "two-sided", n_boot: int = 10_000,
                     confidence: float = 0.95, rng_seed: int = 0) -> RankCorrelation:
    """Spearman's ρ between ``x`` and ``y`` (Pearson on average ranks), with a permutation p-value and an interval.

    Over a few items (task pairs, methods) an asymptotic p is unreliable, so for n ≤ 8 the p-value is exact: the
    share of all n! orders of ``y`` whose ρ* is at least as extreme (``"two-sided"``: |ρ*| ≥ |ρ|; ``"greater"``:
    ρ* ≥ ρ; ``"less"``: ρ* ≤ ρ; ties within 1e-12 count). Above 8 it is a Monte-Carlo permutation p over
    ``n_boot`` random orders, (k + 1)/(n_boot + 1). ``lo``/``hi``: percentile bootstrap over resampled pairs
    (resamples with a constant side have no ρ and are dropped). Deterministic for a given ``rng_seed``.
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative {alternative!r}; use 'two-sided', 'greater' or 'less'")
    _check_confidence(confidence)
    _check_n_boot(n_boot)
    xs, ys = _aligned(x, y, "index labels")
    n = len(xs)
    if n < 3:
        raise ValueError(f"a rank correlation needs at least three items, got {n}")
    for values, name in ((xs, "x"), (ys, "y")):
        if np.all(values == values[0]):
            raise ValueError(f"{name} is constant, so its ranks carry no order and ρ is undefined")
    rx, ry = _ranks(xs)[0], _ranks(ys)[0]
    rho = float(_pearson_rows(rx[None], ry[None])[0])
    rng = np.random.default_rng(rng_seed)
    exact = n <= 8
    if exact:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        orders = rng.permuted(np.tile(np.arange(n), (int(n_boot), 1)), axis=1)
    null = _pearson_rows(np.broadcast_to(rx, orders.shape), ry[orders])
    tol = 1e-12
    if alternative == "two-sided":
        hits = np.abs(null) >= abs(rho) - tol
    elif alternative == "greater":
        hits = null >= rho - tol
    else:
        hits = null <= rho + tol
    p = float(hits.mean()) if exact else (int(hits.sum()) + 1) / (int(n_boot) + 1)
    idx = rng.integers(0, n, size=(int(n_boot), n))
    boot = _pearson_rows(_ranks(xs[idx]), _ranks(ys[idx]))
    boot = boot[np.isfinite(boot)]
    if boot.size:
        lo, hi = (float(v) for v in np.quantile(boot, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0]))
    else:
        lo = hi = math.nan
    return RankCorrelation(rho, min(p, 1.0), lo, hi, n, exact, alternative)
