import json
import sys
from pathlib import Path

import pytest
import torch

from mtl_utils.evidence import shipped_results
from mtl_utils.evidence.results import StaleResultsError
from mtl_utils.foundations.cache import module_hashes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import ship_results  # noqa: E402


def test_the_package_ships_exactly_the_committed_results():
    assert ship_results.differences() == [], "run `python tools/ship_results.py` after re-running a chapter"
    assert sorted(p.name for p in ship_results.TARGET.glob("*.json"))


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """A working folder with neither results nor notebooks, and a package copy we control."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MTL_RESULTS_DIR", raising=False)
    shipped = tmp_path / "shipped.json"
    monkeypatch.setattr(shipped_results, "shipped_path", lambda chapter: shipped)
    record = {"chapter": "07_x", "results": {"a": 1}, "seeds": [0, 1], "torch": torch.__version__.split("+")[0],
              "mtl_utils_modules": {"foundations/train.py": module_hashes()["foundations/train.py"]}}
    shipped.write_text(json.dumps(record))
    return shipped, record


def test_without_the_book_the_shipped_copy_is_read(colab):
    record = shipped_results.load("07_x", seeds=[0, 1])
    assert record["results"] == {"a": 1} and record["source"] == "shipped" and record["note"] == ""


def test_another_torch_is_reported_not_refused(colab):
    shipped, record = colab
    shipped.write_text(json.dumps({**record, "torch": "1.0.0"}))
    assert shipped_results.load("07_x")["note"].startswith("made with torch 1.0.0")


def test_other_code_or_other_seeds_are_refused(colab):
    shipped, record = colab
    with pytest.raises(StaleResultsError, match=r"used seeds \[0, 1\], not \[5, 6\]"):
        shipped_results.load("07_x", seeds=[5, 6])
    shipped.write_text(json.dumps({**record, "mtl_utils_modules": {"foundations/train.py": "0" * 16}}))
    with pytest.raises(StaleResultsError, match=r"other mtl_utils code \(foundations/train.py differ"):
        shipped_results.load("07_x")


def test_no_copy_is_a_clear_error(colab):
    colab[0].unlink()
    with pytest.raises(FileNotFoundError, match="none shipped with mtl_utils"):
        shipped_results.load("07_x")


def test_the_working_folder_wins_when_the_chapter_is_there(colab, tmp_path):
    (tmp_path / "07_x.ipynb").write_text(json.dumps({"cells": []}))
    with pytest.raises(FileNotFoundError, match="no results from chapter '07_x' in results/"):
        shipped_results.load("07_x")  # results.load's own checks, not the shipped copy
