"""`make book` builds from the committed outputs; `make execute` fails when a notebook fails."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_book_is_built_from_committed_outputs():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("ok", [True, False], ids=["passes", "fails"])
def test_make_execute_exit_status(tmp_path, ok):
    good = _notebook(tmp_path / "good.ipynb", "print('first')")
    bad = _notebook(tmp_path / "bad.ipynb", "raise ValueError('a failing cell')", "print('never')")
    targets = f"{good}" if ok else f"{good} {bad}"
    venv = Path(sys.prefix)
    run = subprocess.run(["make", "-s", "-C", str(ROOT), "execute", f"NB={targets}", f"VENV={venv}"],
                         capture_output=True, text=True, timeout=300)
    assert (run.returncode == 0) == ok, run.stdout + run.stderr
    assert "first" in nbformat.read(good, 4).cells[0].outputs[0]["text"]  # executed in place
    if not ok:
        assert f"execution of {bad} failed" in run.stdout


def test_make_test_leaves_the_tracked_results_alone():
    run = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "test", f"VENV={Path(sys.prefix)}"],
                         capture_output=True, text=True, timeout=60)
    nbval = [line for line in run.stdout.splitlines() if "--nbval-lax" in line]
    assert len(nbval) == 2, run.stdout
    for line in nbval:  # both notebook runs write and read results in a build folder, never in book/results
        assert f"MTL_RESULTS_DIR={ROOT / '_build' / 'test-results'}" in line, line
