import pytest
import torch
from torch import nn

from mtl_utils.foundations import cost
from mtl_utils.foundations.data import digit
from mtl_utils.foundations.models import (
    HardSharingNet,
    LeNetTrunk,
    SingleTaskNet,
)
from mtl_utils.foundations.tasks import (
    Task,
    check_tasks,
    digit_task,
    ink_task,
    parity_task,
)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="digit", num_outputs=0, label_fn=digit), "num_outputs must be a positive int"),
    (dict(name="digit", num_outputs=2.5, label_fn=digit), "num_outputs must be a positive int"),
    (dict(name="digit", num_outputs=10, label_fn=digit, loss="ce"), "loss must be callable"),
    (dict(name="digit", num_outputs=10, label_fn=None), "label_fn must be callable"),
    (dict(name="", num_outputs=10, label_fn=digit), "non-empty identifier"),
])
def test_task_rejects_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Task(**kwargs)


def test_task_list_checks():
    with pytest.raises(ValueError, match=r"duplicate task names: \['digit'\]"):
        check_tasks([digit_task(), parity_task(), digit_task()])
    with pytest.raises(ValueError, match="at least one task"):
        check_tasks([])
    with pytest.raises(ValueError, match="expected Task objects"):
        check_tasks(["digit"])


def test_lenet_shapes_and_size():
    trunk = LeNetTrunk()
    assert trunk(torch.zeros(3, 1, 28, 28)).shape == (3, 84)
    # conv 1->6 5x5, conv 6->16 5x5, fc 256->120, fc 120->84 (weights + biases)
    assert cost.count_parameters(trunk) == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 120 + 120) + (120 * 84 + 84)
    half = LeNetTrunk(width=0.5)
    assert half(torch.zeros(2, 1, 28, 28)).shape == (2, 42)
    with pytest.raises(ValueError, match="width"):
        LeNetTrunk(width=0)


def test_networks_return_dicts():
    tasks = [digit_task(), parity_task(), ink_task()]
    net = HardSharingNet.for_tasks(tasks)
    out = net(torch.zeros(4, 1, 28, 28))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"digit": (4, 10), "parity": (4, 2), "ink": (4, 1)}
    single = SingleTaskNet(parity_task())
    assert list(single(torch.zeros(2, 1, 28, 28))) == ["parity"]
    with pytest.raises(ValueError, match="at least one head"):
        HardSharingNet(LeNetTrunk(), {})


def test_sharing_saves_parameters():
    tasks = [digit_task(), parity_task()]
    shared = cost.count_parameters(HardSharingNet.for_tasks(tasks))
    separate = sum(cost.count_parameters(SingleTaskNet(t)) for t in tasks)
    assert shared == separate - cost.count_parameters(LeNetTrunk())


def test_flops_and_latency():
    net = SingleTaskNet(digit_task())
    conv = 2 * (24 * 24 * 6 * 25 + 8 * 8 * 16 * 6 * 25)
    fc = 2 * (256 * 120 + 120 * 84 + 84 * 10)
    assert cost.flops_per_image(net) == conv + fc
    assert cost.latency_ms(net, batch_size=8, repeats=2) > 0
    with pytest.raises(ValueError):
        cost.latency_ms(net, batch_size=0)
