"""CI runs the speed benchmarks for a few steps, only to keep the scripts working (no timing is asserted)."""
import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run(mnist, script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MTL_DATA_DIR": str(mnist.root)}
    return subprocess.run([sys.executable, str(BENCH / script), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def last_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_train_speed_runs_and_reports_a_ratio(mnist):
    last = last_line(run(mnist, "train_speed.py", "--reps", "1", "--steps", "3"))
    assert re.fullmatch(r"ratio article/mtl_utils = \d+\.\d\d", last), last


def test_train_speed_refuses_bad_options(mnist):
    done = run(mnist, "train_speed.py", "--reps", "0", timeout=120)
    assert done.returncode != 0 and "--reps" in done.stderr


def test_seeds_side_by_side_runs_and_reports_a_ratio(mnist):
    last = last_line(run(mnist, "seeds_side_by_side.py", "--seeds", "3", "--steps", "4"))
    assert re.fullmatch(r"ratio side-by-side/sequential = \d+\.\d\d", last), last
