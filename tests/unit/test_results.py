"""mtl_utils.evidence.results: a chapter's saved results load back, and missing or stale ones fail loudly."""
import json
import subprocess
import sys

import pytest

from mtl_utils.evidence import results


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A folder with one notebook, used as the working directory, and a results folder inside it."""
    nb = {"cells": [{"cell_type": "markdown", "source": ["# 7. A chapter"]},
                    {"cell_type": "code", "source": ["x = 1\n", "print(x)"]}], "metadata": {}, "nbformat": 4,
          "nbformat_minor": 5}
    (tmp_path / "07_demo.ipynb").write_text(json.dumps(nb))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MTL_RESULTS_DIR", raising=False)
    return tmp_path


def test_round_trip_records_config_seeds_and_hashes(book):
    path = results.save("07_demo", {"delta_m": [1.0, -0.5, 0.25]}, config={"steps": 250}, seeds=[0, 1, 2])
    assert path == book / "results" / "07_demo.json"
    record = results.load("07_demo", seeds=[0, 1, 2])
    assert record["results"] == {"delta_m": [1.0, -0.5, 0.25]}
    assert record["config"] == {"steps": 250} and record["seeds"] == [0, 1, 2]
    assert record["notebook"] == results.notebook_hash(book / "07_demo.ipynb")


def test_missing_results_name_the_notebook_to_run(book):
    with pytest.raises(FileNotFoundError, match="run the notebook 07_demo.ipynb"):
        results.load("07_demo")


def test_edited_chapter_makes_its_results_stale(book):
    results.save("07_demo", {"a": 1}, config={}, seeds=[0])
    nb = json.loads((book / "07_demo.ipynb").read_text())
    nb["cells"][0]["source"] = ["# 7. Prose edits do not matter"]
    (book / "07_demo.ipynb").write_text(json.dumps(nb))
    results.load("07_demo")
    nb["cells"][1]["source"] = ["x = 2\n", "print(x)"]
    (book / "07_demo.ipynb").write_text(json.dumps(nb))
    with pytest.raises(results.StaleResultsError, match="has changed since"):
        results.load("07_demo")


def test_other_mtl_utils_source_or_seeds_are_stale(book):
    path = results.save("07_demo", {"a": 1}, config={}, seeds=[0, 1, 2])
    with pytest.raises(results.StaleResultsError, match="MTL_SEED_OFFSET"):
        results.load("07_demo", seeds=[100, 101, 102])
    record = json.loads(path.read_text())
    record["mtl_utils_modules"]["foundations/train.py"] = "0" * 16  # train.py was edited since
    path.write_text(json.dumps(record))
    with pytest.raises(results.StaleResultsError, match=r"other mtl_utils code \(foundations/train.py changed or removed"):
        results.load("07_demo")
    del record["mtl_utils_modules"]  # a file from before the modules were recorded
    path.write_text(json.dumps(record))
    with pytest.raises(results.StaleResultsError, match=r"other mtl_utils code \(all of it"):
        results.load("07_demo")


def test_only_the_imported_modules_are_recorded_and_others_may_change(book, monkeypatch):
    fresh = subprocess.run([sys.executable, "-c", "from mtl_utils.evidence import results; print(*results.loaded_module_hashes())"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert {"evidence/results.py", "foundations/cache.py", "__init__.py"} <= set(fresh)  # what importing the module imports
    assert "distributed.py" not in fresh and "optimization/torchjd_weighting.py" not in fresh  # never imported in that process
    path = results.save("07_demo", {"a": 1}, config={}, seeds=[0])
    assert set(json.loads(path.read_text())["mtl_utils_modules"]) == set(results.loaded_module_hashes())
    now = results.module_hashes()
    # A chapter that imported only results.py and cache.py (other tests of this session import everything else):
    monkeypatch.setattr(results, "loaded_module_hashes", lambda: {n: now[n] for n in ("foundations/cache.py", "evidence/results.py")})
    path = results.save("07_demo", {"a": 1}, config={}, seeds=[0])
    monkeypatch.setattr(results, "module_hashes", lambda: {**now, "distributed.py": "0" * 16, "newer.py": "1" * 16})
    assert results.load("07_demo")["results"] == {"a": 1}  # a module it never imported changed, one was added
    record = json.loads(path.read_text())
    record["mtl_utils_modules"]["retired.py"] = "0123456789abcdef"  # a module it used, removed since
    path.write_text(json.dumps(record))
    with pytest.raises(results.StaleResultsError, match=r"retired.py changed or removed"):
        results.load("07_demo")


def test_results_dir_override(book, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.setenv("MTL_RESULTS_DIR", str(elsewhere))
    assert results.save("07_demo", {"a": 1}, config={}, seeds=[0]) == elsewhere / "07_demo.json"


@pytest.mark.parametrize("chapter", ["", "book/07_demo", "07_demo.ipynb"])
def test_bad_chapter_names_are_refused(book, chapter):
    with pytest.raises(ValueError, match="notebook's name"):
        results.save(chapter, {"a": 1}, config={}, seeds=[0])


def test_unserializable_or_empty_results_are_refused(book):
    with pytest.raises(ValueError, match="no results"):
        results.save("07_demo", {}, config={}, seeds=[0])
    with pytest.raises(ValueError, match="finite numbers"):
        results.save("07_demo", {"a": float("nan")}, config={}, seeds=[0])
    with pytest.raises(ValueError, match="JSON-serializable"):
        results.save("07_demo", {"a": object()}, config={}, seeds=[0])


def test_other_torch_version_is_stale(book):
    path = results.save("07_demo", {"a": 1}, config={}, seeds=[0])
    record = json.loads(path.read_text())
    record["torch"] = "1.0.0"
    path.write_text(json.dumps(record))
    with pytest.raises(results.StaleResultsError, match="made with torch 1.0.0"):
        results.load("07_demo")


def test_results_cannot_be_loaded_without_their_notebook(book):
    results.save("07_demo", {"a": 1}, config={}, seeds=[0])
    (book / "07_demo.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="cannot be checked against its code"):
        results.load("07_demo")


def test_results_saved_away_from_their_notebook_are_stale(book, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("colab")  # a runtime without the notebook file, as on Colab
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("MTL_RESULTS_DIR", str(book / "results"))
    results.save("07_demo", {"a": 1}, config={}, seeds=[0])
    monkeypatch.chdir(book)
    with pytest.raises(results.StaleResultsError, match="saved away from it"):
        results.load("07_demo")
