import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from mtl_utils.foundations import cache


def build():
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def make_trainer(calls):
    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.fill_(0.5)
        return {"seconds": 1.25, "accuracy": 0.9}
    return train


def test_trains_once_then_loads(tmp_path):
    calls = []
    m1, info1 = cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls), root=tmp_path, verbose=False)
    m2, info2 = cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls), root=tmp_path, verbose=False)
    assert len(calls) == 1
    assert not info1["cached"] and info2["cached"] and info2["seconds"] == 1.25
    assert torch.equal(m2.weight, torch.full((2, 3), 0.5))


def test_config_change_retrains(tmp_path):
    calls = []
    cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls), root=tmp_path, verbose=False)
    cache.train_or_load("lin", {"seed": 1}, build, make_trainer(calls), root=tmp_path, verbose=False)
    assert len(calls) == 2 and len(list(tmp_path.glob("lin-*.pt"))) == 2


def test_damaged_or_mismatched_file_is_retrained(tmp_path, capsys):
    calls = []
    cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls), root=tmp_path, verbose=False)
    (path,) = tmp_path.glob("lin-*.pt")
    path.write_bytes(path.read_bytes()[:50])  # truncated
    _, info = cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls), root=tmp_path)
    assert not info["cached"] and len(calls) == 2
    assert "stale or damaged" in capsys.readouterr().out
    # same name and config, but a model of another shape: never load the wrong tensors
    _, info = cache.train_or_load("lin", {"seed": 0}, lambda: nn.Linear(4, 2), make_trainer(calls),
                                  root=tmp_path, verbose=False)
    assert not info["cached"] and len(calls) == 3


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="cache name"):
        cache.train_or_load("a/b", {}, build, make_trainer([]), root=tmp_path)
    with pytest.raises(TypeError):
        cache.train_or_load("lin", {}, build, lambda m: {"model": m}, root=tmp_path, verbose=False)


def test_key_is_stable_and_sensitive():
    assert cache.config_key({"a": 1, "b": [1, 2]}) == cache.config_key({"b": [1, 2], "a": 1})
    assert cache.config_key({"a": 1}) != cache.config_key({"a": 2})


def _copy_package(dst):
    dst.mkdir()
    for f in cache.PACKAGE_DIR.rglob("*.py"):
        (dst / f.relative_to(cache.PACKAGE_DIR)).parent.mkdir(parents=True, exist_ok=True)
        (dst / f.relative_to(cache.PACKAGE_DIR)).write_bytes(f.read_bytes())
    return dst


def test_source_edit_changes_the_hash(tmp_path):
    pkg = _copy_package(tmp_path / "pkg")
    before = cache.source_hash.__wrapped__(pkg)
    assert before == cache.source_hash.__wrapped__(pkg)
    train = pkg / "foundations" / "train.py"
    train.write_text(train.read_text() + "\n# a one-line change\n")
    assert cache.source_hash.__wrapped__(pkg) != before
    assert cache.source_hash.__wrapped__(cache.PACKAGE_DIR) == cache.source_hash()


def test_key_covers_the_source(monkeypatch):
    key = cache.config_key({"a": 1})
    monkeypatch.setattr(cache, "source_hash", lambda: "edited")
    assert cache.config_key({"a": 1}) != key


def test_same_source_same_key_in_a_fresh_process():
    code = "from mtl_utils.foundations import cache; print(cache.config_key({'seed': 0}))"
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)}
    assert keys == {cache.config_key({"seed": 0})}


def test_files_from_other_source_are_deleted(tmp_path, monkeypatch):
    calls = []
    for seed in range(3):
        cache.train_or_load("lin", {"seed": seed}, build, make_trainer(calls), root=tmp_path, verbose=False)
    cache.train_or_load("lin-two", {"seed": 0}, build, make_trainer(calls), root=tmp_path, verbose=False)
    assert len(list(tmp_path.glob("lin-*.pt"))) == 4
    monkeypatch.setattr(cache, "source_hash", lambda: "0123456789abcdef")  # the package was edited
    _, info = cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls), root=tmp_path, verbose=False)
    assert not info["cached"] and len(calls) == 5
    assert [p.name for p in tmp_path.glob("lin-0*.pt")] == [p.name for p in tmp_path.glob("lin-*.pt")
                                                            if not p.name.startswith("lin-two")]
    assert len(list(tmp_path.glob("lin-*.pt"))) == 2  # the new file, and "lin-two" (another name) untouched
    assert cache.clear(tmp_path) == 2 and not list(tmp_path.glob("*.pt"))


def test_env_override_and_timing_note(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MTL_MODEL_CACHE", str(tmp_path / "models"))
    assert cache.model_cache_dir() == tmp_path / "models"
    calls = []
    _, fresh = cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls))
    _, loaded = cache.train_or_load("lin", {"seed": 0}, build, make_trainer(calls))
    out = capsys.readouterr().out
    assert "trained and cached" in out and "loaded trained weights from the cache (trained in 1.2 s" in out
    assert cache.timing_note(fresh) == "trained in 1.2 s"
    assert cache.timing_note(loaded) == "loaded from the cache (trained in 1.2 s when it was made)"
