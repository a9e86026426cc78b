"""CI runs the speed benchmark for a few steps, only to keep the script working (no timing is asserted)."""
import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "train_speed.py"


def test_train_speed_runs_and_reports_a_ratio(mnist):
    env = {**os.environ, "MTL_DATA_DIR": str(mnist.root)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--reps", "1", "--steps", "3"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio article/mtl_utils = \d+\.\d\d", last), last


def test_train_speed_refuses_bad_options(mnist):
    env = {**os.environ, "MTL_DATA_DIR": str(mnist.root)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--reps", "0"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "--reps" in done.stderr


def test_seeds_side_by_side_runs_and_reports_a_ratio(mnist):
    script = SCRIPT.parent / "seeds_side_by_side.py"
    env = {**os.environ, "MTL_DATA_DIR": str(mnist.root)}
    done = subprocess.run([sys.executable, str(script), "--seeds", "3", "--steps", "4"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio side-by-side/sequential = \d+\.\d\d", last), last
