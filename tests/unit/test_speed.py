"""The speed measures in fit/predict must not change what the code computes."""
import pytest
import torch
import torch.nn.functional as F

from mtl_utils import HardSharingNet, LeNetTrunk, Recipe, TaskData, fit
from mtl_utils.tasks import digit_task, parity_task
from mtl_utils.train import cpu_threads

TASKS = [digit_task(), parity_task()]


def test_trunk_equals_the_articles_relu_then_pool_order():
    torch.manual_seed(0)
    trunk, x = LeNetTrunk(), torch.randn(8, 1, 28, 28)
    f = trunk.features
    h = F.max_pool2d(F.relu(f[0](x)), 2)
    h = F.max_pool2d(F.relu(f[3](h)), 2)
    expected = F.relu(f[9](F.relu(f[7](h.flatten(1)))))
    torch.testing.assert_close(trunk(x), expected)
    assert sum(p.numel() for p in trunk.parameters()) == 156 + 2416 + 30840 + 10164


def test_cpu_threads_sets_and_restores(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("MTL_THREADS", "1")
    with cpu_threads(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("value", ["0", "two", "-1", ""])
def test_bad_thread_count_is_refused(monkeypatch, value):
    monkeypatch.setenv("MTL_THREADS", value)
    with pytest.raises(ValueError, match="MTL_THREADS"):
        with cpu_threads(torch.device("cpu")):
            pass


def test_fit_restores_the_thread_count(mnist):
    data = TaskData.from_split(mnist.train, TASKS).subset(torch.arange(256))
    before = torch.get_num_threads()
    fit(HardSharingNet.for_tasks(TASKS), TASKS, data, recipe=Recipe(epochs=1, batch_size=64), progress=False)
    assert torch.get_num_threads() == before
