"""What the benchmark scripts print about the machine, so that every measurement says where it was taken."""
from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def load_average() -> float:
    """The 1-minute load average (NaN where the OS does not report one): timings taken under load are inflated."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
