"""Two gloo processes on localhost give the single-process result on the same global batches (and naive does not)."""
import pytest
import torch

from mtl_utils import distributed as D
from mtl_utils.foundations.data import TaskData, validation_split
from mtl_utils.foundations.models import HardSharingNet
from mtl_utils.foundations.tasks import digit_task, parity_task

TASKS = [digit_task(), parity_task()]
OPTIONS = {"steps": 6, "global_batch": 32, "images": 640, "lr": 0.1, "seed": 0}


@pytest.fixture(scope="module")
def data(mnist):
    train, _ = validation_split(mnist.train)
    return TaskData.from_split(train.subset(torch.arange(OPTIONS["images"])), TASKS)


def single_process(data, mode, method="mgda"):
    torch.manual_seed(OPTIONS["seed"])
    model = HardSharingNet.for_tasks(TASKS)
    batches = D.global_batches(len(data), OPTIONS["global_batch"], OPTIONS["steps"], OPTIONS["seed"])
    D.train(model, TASKS, data, batches, mode, method, OPTIONS["lr"], seed=OPTIONS["seed"])
    return model.state_dict()


def max_difference(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def two(data):
    return D.launch(2, modes=D.MODES, method="mgda", **OPTIONS)


@pytest.mark.parametrize("mode", ["sum", "per_task"])
def test_two_processes_match_one_process(data, two, mode):
    assert two[mode]["world"] == 2
    one = single_process(data, mode)
    for k, v in one.items():
        torch.testing.assert_close(two[mode]["state_dict"][k], v, rtol=1e-4, atol=1e-5)


def test_naive_combination_differs(data, two):
    assert max_difference(two["naive"]["state_dict"], single_process(data, "per_task")) > 1e-3


def test_shards_are_disjoint_and_cover_each_epoch():
    batches = D.global_batches(96, 32, 6, seed=1)  # 3 batches per epoch, 2 epochs
    shards = [D.rank_batches(batches, r, 2) for r in range(2)]
    for epoch in (slice(0, 3), slice(3, 6)):
        seen = [s[epoch].flatten().tolist() for s in shards]
        assert not set(seen[0]) & set(seen[1])  # disjoint
        assert sorted(seen[0] + seen[1]) == list(range(96))  # every image once
    assert not torch.equal(batches[:3], batches[3:])  # a new order each epoch


def test_bad_input(data):
    with pytest.raises(ValueError, match="batch_size"):
        D.global_batches(10, 20, 1, 0)
    with pytest.raises(ValueError, match="divide evenly"):
        D.rank_batches(D.global_batches(99, 33, 1, 0), 0, 2)
    with pytest.raises(ValueError, match="rank"):
        D.rank_batches(D.global_batches(96, 32, 1, 0), 2, 2)
    model = HardSharingNet.for_tasks(TASKS)
    with pytest.raises(ValueError, match="mode"):
        D.train(model, TASKS, data, D.global_batches(len(data), 32, 1, 0), mode="mean")
    with pytest.raises(ValueError, match="process group"):
        D.train(model, TASKS, data, D.global_batches(len(data), 32, 1, 0), world=2)
    with pytest.raises(ValueError, match="method"):
        D.combine(torch.eye(2), "nash", torch.Generator())
    with pytest.raises(ValueError, match="nproc"):
        D.launch(0)
    with pytest.raises(ValueError, match="modes"):
        D.launch(2, modes=["mean"])
