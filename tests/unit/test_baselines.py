import pytest
import torch

from mtl_utils import Recipe, TaskData, digit_task, parity_task
from mtl_utils.foundations.baselines import (
    data_fingerprint,
    hard_sharing_model,
    single_task_baseline,
)
from mtl_utils.foundations.models import HardSharingNet, SingleTaskNet

QUICK = Recipe(epochs=1, batch_size=64)
TASKS = [digit_task(), parity_task()]


@pytest.fixture
def tiny(mnist):
    train = TaskData.from_split(mnist.train, TASKS).subset(torch.arange(256))
    test = TaskData.from_split(mnist.test, TASKS).subset(torch.arange(128))
    return train, test


@pytest.fixture
def cache_home(monkeypatch, tmp_path):
    """An empty, private model cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mtl_utils" / "models"


def test_single_task_baseline_trains_once_then_loads(tiny, cache_home):
    train, test = tiny
    m1, info1 = single_task_baseline(digit_task(), train, test, recipe=QUICK, verbose=False)
    m2, info2 = single_task_baseline(digit_task(), train, test, recipe=QUICK, verbose=False)
    assert isinstance(m2, SingleTaskNet) and not info1["cached"] and info2["cached"]
    assert len(list(cache_home.glob("single-digit-*.pt"))) == 1
    assert set(info2["test"]) == {"digit"} and 0 <= info2["test"]["digit"] <= 1
    assert info2["parameters"] == sum(p.numel() for p in m2.parameters())
    assert info2["seconds"] > 0 and len(info2["history"]) == 1
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_what_changes_the_weights_changes_the_key(tiny, cache_home):
    train, test = tiny
    single_task_baseline(parity_task(), train, test, recipe=QUICK, verbose=False)
    single_task_baseline(parity_task(), train, test, recipe=QUICK, seed=1, verbose=False)
    single_task_baseline(parity_task(), train, test, recipe=QUICK, width=0.5, verbose=False)
    single_task_baseline(parity_task(), train, test, recipe=Recipe(epochs=1, batch_size=32), verbose=False)
    other = train.subset(torch.arange(128, 256))
    single_task_baseline(parity_task(), train.subset(torch.arange(128)), test, recipe=QUICK, verbose=False)
    _, info = single_task_baseline(parity_task(), other, test, recipe=QUICK, verbose=False)
    assert not info["cached"]  # same size as the previous subset, other images
    assert len(list(cache_home.glob("single-parity-*.pt"))) == 6  # one file per configuration


def test_same_seed_same_weights_without_cache(tiny, tmp_path, monkeypatch):
    train, test = tiny
    states = []
    for i in range(2):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"c{i}"))
        model, _ = single_task_baseline(digit_task(), train, test, recipe=QUICK, verbose=False)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_hard_sharing_model(tiny, cache_home):
    train, test = tiny
    model, info = hard_sharing_model(TASKS, train, test, recipe=QUICK, verbose=False)
    assert isinstance(model, HardSharingNet) and set(info["test"]) == {"digit", "parity"}
    _, again = hard_sharing_model(TASKS, train, test, weights={"digit": 1, "parity": 1}, recipe=QUICK, verbose=False)
    assert again["cached"]  # default weights are all 1
    _, other = hard_sharing_model(TASKS, train, test, weights={"digit": 1, "parity": 0}, recipe=QUICK, verbose=False)
    assert not other["cached"]


def test_fingerprint_sees_images_and_targets(tiny):
    train, _ = tiny
    assert data_fingerprint(train, ["digit"]) == data_fingerprint(train.subset(torch.arange(256)), ["digit"])
    assert data_fingerprint(train, ["digit"]) != data_fingerprint(train, ["parity"])
    flipped = train.with_targets(digit=(train.targets["digit"] + 1) % 10)
    assert data_fingerprint(train, ["digit"]) != data_fingerprint(flipped, ["digit"])


def test_bad_inputs(tiny, cache_home):
    train, test = tiny
    with pytest.raises(ValueError, match="no targets for task"):
        single_task_baseline(digit_task(), TaskData(train.images, {}), test, recipe=QUICK)
    with pytest.raises(ValueError, match="must be a TaskData"):
        single_task_baseline(digit_task(), {"digit": train}, test, recipe=QUICK)
    with pytest.raises(ValueError, match="empty"):
        single_task_baseline(digit_task(), train, test.subset(torch.arange(0)), recipe=QUICK)
    with pytest.raises(ValueError, match="weights must name"):
        hard_sharing_model(TASKS, train, test, weights={"digit": 1.0}, recipe=QUICK)
    with pytest.raises(ValueError, match="Task objects"):
        single_task_baseline("digit", train, test, recipe=QUICK)
    assert not cache_home.exists() or not list(cache_home.iterdir())
