"""The few figure types the book repeats, drawn the same way everywhere."""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd

from .train import History


def learning_curves(histories: Mapping[str, History], column: str, ax=None, ylabel: str | None = None):
    """One line per run: ``column`` of each history against the epoch."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for label, history in histories.items():
        frame = history.frame()
        if column not in frame:
            raise ValueError(f"history {label!r} has no column {column!r}; it has {list(frame.columns)}")
        ax.plot(frame.index, frame[column], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or column)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def bar_compare(table: pd.DataFrame, column: str, ax=None, ylabel: str | None = None, fmt: str = "{:.2f}"):
    """A bar per row of ``table`` for one column, with the values written on the bars."""
    if column not in table:
        raise ValueError(f"table has no column {column!r}; it has {list(table.columns)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    bars = ax.bar([str(i) for i in table.index], table[column], color="tab:blue")
    ax.bar_label(bars, labels=[fmt.format(v) for v in table[column]], padding=2)
    ax.set_ylabel(ylabel or column)
    ax.grid(alpha=0.3, axis="y")
    return ax


def tradeoff(points: pd.DataFrame, x: str, y: str, label: str | None = None, ax=None):
    """A trade-off curve between two tasks' errors: one point per setting, joined in order, optionally labelled."""
    for col in (x, y):
        if col not in points:
            raise ValueError(f"points has no column {col!r}; it has {list(points.columns)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(points[x], points[y], marker="o")
    if label is not None:
        for _, row in points.iterrows():
            ax.annotate(str(row[label]), (row[x], row[y]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    return ax
