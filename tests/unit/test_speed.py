"""The speed measures in fit/predict must not change what the code computes."""
import pytest
import torch
import torch.nn.functional as F

from mtl_utils import HardSharingNet, LeNetTrunk, Recipe, TaskData, fit
from mtl_utils.foundations.models import MaxPool2x2
from mtl_utils.foundations.tasks import digit_task, parity_task
from mtl_utils.foundations.train import cpu_threads

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



@pytest.mark.parametrize("shape", [(100, 6, 24, 24), (7, 16, 8, 8), (1, 3, 5, 7), (4, 2, 9, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_max_pool_matches_max_pool2d_values_and_gradients(shape, dtype):
    torch.manual_seed(0)
    x = torch.randint(0, 3, shape).to(dtype).requires_grad_(True)  # three values: ties in almost every window
    expected = F.max_pool2d(x, 2)
    got = MaxPool2x2()(x)
    assert torch.equal(got, expected) and got.is_contiguous()
    grad = torch.randn_like(expected)
    (g_expected,) = torch.autograd.grad(expected, x, grad)
    (g_got,) = torch.autograd.grad(got, x, grad)
    assert torch.equal(g_got, g_expected)
    with torch.no_grad():
        assert torch.equal(MaxPool2x2()(x), expected)


def test_fast_max_pool_gives_the_same_conv_gradient_on_a_blank_background():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 4, 5)
    x = torch.randn(16, 1, 28, 28)
    x[:, :, :8] = -1.0  # identical patches, so tied conv outputs, as on MNIST's background
    grads = []
    for pool in (MaxPool2x2(), torch.nn.MaxPool2d(2)):
        conv.zero_grad()
        pool(conv(x)).square().sum().backward()
        grads.append(conv.weight.grad.clone())
    assert torch.equal(grads[0], grads[1])
