"""Seeds side by side: the same weights as single-seed fits, the model cache shared both ways, clear errors."""
import os

import pytest
import torch

import mtl_utils as mu
from mtl_utils.foundations.cache import train_or_load
from mtl_utils.foundations.data import TaskData
from mtl_utils.foundations.parallel import (
    default_processes,
    fit_seeds,
    side_by_side,
)
from mtl_utils.optimization import weighting

RECIPE = mu.Recipe(epochs=1, batch_size=32)
TASKS = [mu.digit_task(), mu.parity_task()]
SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def small(mnist):
    return TaskData.from_split(mnist.test.subset(torch.arange(640)), TASKS)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Single-seed fits with one thread, as the workers use, so the weights must agree exactly."""
    monkeypatch.setenv("MTL_THREADS", "1")
    monkeypatch.setenv("MTL_PROGRESS", "0")
    monkeypatch.setenv("MTL_PROCESSES", "2")


def build():
    return mu.HardSharingNet.for_tasks(TASKS)


def single(seed, data, make_weighting=None):
    mu.seed_everything(seed)
    model = build()
    w = make_weighting() if make_weighting else None
    history = mu.fit(model, TASKS, data, recipe=RECIPE, seed=seed, steps_per_epoch=8, weighting=w)
    return model, history


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, msg=f"parameter {name} differs")


@pytest.mark.parametrize("make_weighting", [None, lambda: weighting.Uncertainty(TASKS)], ids=["equal", "uncertainty"])
def test_side_by_side_equals_single_seed_fits(small, make_weighting):
    runs = fit_seeds(build, TASKS, small, SEEDS, make_weighting=make_weighting, recipe=RECIPE, steps_per_epoch=8)
    assert len(runs) == len(SEEDS)
    for seed, (model, history) in zip(SEEDS, runs):
        ref_model, ref_history = single(seed, small, make_weighting)
        assert_same_weights(model, ref_model)
        assert history.frame()["loss"].tolist() == pytest.approx(ref_history.frame()["loss"].tolist())
        if make_weighting is not None:
            torch.testing.assert_close(torch.tensor(history.step_weights), torch.tensor(ref_history.step_weights))
    # different seeds give different networks
    assert not torch.equal(next(runs[0][0].parameters()), next(runs[1][0].parameters()))


def test_cache_is_shared_both_ways(small, tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_MODEL_CACHE", str(tmp_path))
    config = {"model": "hard", "steps": 8}
    runs = fit_seeds(build, TASKS, small, SEEDS, cache="par-test", config=config, recipe=RECIPE, steps_per_epoch=8)
    assert len(list(tmp_path.glob("par-test-*.pt"))) == len(SEEDS)

    def never(model):
        raise AssertionError("a seed trained side by side must be found in the cache")

    for seed, (model, _) in zip(SEEDS, runs):
        mu.seed_everything(seed)
        cached, info = train_or_load("par-test", {**config, "seed": seed}, build, never, verbose=False)
        assert info["cached"]
        assert_same_weights(cached, model)
    # and the other way: a second side-by-side call loads every seed instead of training
    again = fit_seeds(build, TASKS, small, SEEDS, cache="par-test", config=config, recipe=RECIPE, steps_per_epoch=8)
    for (a, ha), (b, hb) in zip(runs, again):
        assert_same_weights(a, b)
        assert ha.records == hb.records


def test_side_by_side_keeps_order_and_output(capsys):
    def job(x):
        print(f"job {x}")
        return x * x, os.getpid(), os.environ["MTL_THREADS"], torch.get_num_threads()

    results = side_by_side(job, [3, 1, 2, 5], processes=2)
    assert [r[0] for r in results] == [9, 1, 4, 25]
    assert {r[1] for r in results} != {os.getpid()}  # ran in workers
    assert all(r[2] == "1" and r[3] == 1 for r in results)
    assert capsys.readouterr().out.splitlines() == ["job 3", "job 1", "job 2", "job 5"]


def test_errors_are_clear(small):
    def boom(x):
        if x == 2:
            raise KeyError("no such task")
        return x

    with pytest.raises(RuntimeError, match="job 2 failed in a worker process:(.|\n)*KeyError"):
        side_by_side(boom, [1, 2, 3], processes=2)
    with pytest.raises(RuntimeError, match="could not be sent back"):
        side_by_side(lambda x: (lambda: x), [1, 2], processes=2)
    with pytest.raises(RuntimeError, match="exit code 3"):
        side_by_side(lambda x: os._exit(3), [1, 2], processes=2)
    with pytest.raises(ValueError, match="processes must be a positive int"):
        side_by_side(abs, [1], processes=0)
    with pytest.raises(ValueError, match="distinct"):
        fit_seeds(build, TASKS, small, [0, 0], recipe=RECIPE)
    with pytest.raises(ValueError, match="together"):
        fit_seeds(build, TASKS, small, [0], cache="x", recipe=RECIPE)
    with pytest.raises(ValueError, match="make_weighting"):
        fit_seeds(build, TASKS, small, [0], weighting=weighting.Uncertainty(TASKS), recipe=RECIPE)


def test_default_processes(monkeypatch):
    monkeypatch.setenv("MTL_PROCESSES", "4")
    assert default_processes(10) == 4 and default_processes(3) == 3
    monkeypatch.setenv("MTL_PROCESSES", "two")
    with pytest.raises(ValueError, match="MTL_PROCESSES"):
        default_processes(5)
    monkeypatch.delenv("MTL_PROCESSES")
    assert 1 <= default_processes(5) <= 5
