"""fit reads losses back to the host once per epoch, not once per step (on a GPU each read is a synchronization)."""
import torch

from mtl_utils import Recipe, TaskData, fit, seed_everything
from mtl_utils.foundations.models import SoftSharingNet, distance_penalty
from mtl_utils.foundations.tasks import digit_task, parity_task

TASKS = [digit_task(), parity_task()]


def count_item_calls(monkeypatch):
    calls = []
    original = torch.Tensor.item

    def item(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", item)
    return calls


def test_no_host_read_per_step(mnist, monkeypatch):
    train = TaskData.from_split(mnist.train, TASKS).subset(torch.arange(1280))
    seed_everything(0)
    net = SoftSharingNet(TASKS)
    calls = count_item_calls(monkeypatch)
    history = fit(net, TASKS, train, recipe=Recipe(epochs=2, batch_size=64), penalty=distance_penalty(0.1),
                  progress=False)
    steps = 2 * 1280 // 64
    assert len(calls) < steps / 2, f"{len(calls)} host reads in {steps} steps"
    assert list(history.records[0])[:5] == ["epoch", "seconds", "penalty", "loss", "digit_loss"]


def test_taskdata_to_device_and_batches(mnist):
    data = TaskData.from_split(mnist.test, TASKS).subset(torch.arange(100))
    moved = data.to("cpu")
    assert moved.images.device.type == "cpu" and torch.equal(moved.images, data.images)
    a = list(data.batches(32, shuffle=True, generator=torch.Generator().manual_seed(0)))
    b = list(moved.batches(32, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(x1, x2) and torch.equal(y1["digit"], y2["digit"]) for (x1, y1), (x2, y2) in zip(a, b))
