"""The closing chapter reads the chapters' saved results, and stops with a clear error when one is missing or stale.

Only the chapter's first cells run here, up to the one that loads the results: that is where it must fail.
"""
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BOOK = Path(__file__).resolve().parents[2] / "book"
CLOSING = BOOK / "16_when_mtl_pays_off.ipynb"


def run_until_results_load(results_dir: Path, monkeypatch) -> None:
    """Execute the closing chapter up to and including its first cell that loads results, reading `results_dir`."""
    nb = nbformat.read(CLOSING, as_version=4)
    first_load = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "load(" in c.source)
    nb.cells = [c for c in nb.cells[:first_load + 1] if c.cell_type == "code"]
    monkeypatch.setenv("MTL_RESULTS_DIR", str(results_dir))
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(BOOK)}}).execute()


def test_the_chapter_loads_every_results_file_it_uses():
    source = "".join("".join(c["source"]) for c in json.loads(CLOSING.read_text())["cells"] if c["cell_type"] == "code")
    for name in ["04_hard_sharing", "05_soft_sharing", "07_task_weighting", "08_conflicting_gradients",
                 "08b_rest_of_the_field", "09_task_affinity", "10_multimnist", "11_structure_sharing", "15_optimizer_benchmark"]:
        assert f'"{name}"' in source
    assert "load(name, seeds=SEEDS)" in source, "results are loaded with the seeds checked"


def test_missing_results_stop_the_chapter_with_the_notebook_to_run(tmp_path, monkeypatch):
    with pytest.raises(CellExecutionError, match=r"no results from chapter '04_hard_sharing'.*run the notebook"):
        run_until_results_load(tmp_path, monkeypatch)


def test_stale_results_stop_the_chapter(tmp_path, monkeypatch):
    for path in (BOOK / "results").glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    victim = tmp_path / "07_task_weighting.json"
    record = json.loads(victim.read_text())
    record["mtl_utils_modules"]["foundations/train.py"] = "0" * 16
    victim.write_text(json.dumps(record))
    with pytest.raises(CellExecutionError, match="07_task_weighting.*other mtl_utils code"):
        run_until_results_load(tmp_path, monkeypatch)
