import pytest
import torch
from torch import nn

from mtl_utils import cache


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
