import pytest
import torch
import torch.nn.functional as F

import mtl_utils as mu
from mtl_utils.architectures.multilenet import (
    MultiLeNet,
    MultiLeNetTrunk,
    multilenet_head,
)
from mtl_utils.foundations.data import TaskData
from mtl_utils.foundations.tasks import Task
from mtl_utils.settings.multimnist import left_task, right_task

TASKS = [left_task(), right_task()]


def test_forward_returns_one_logit_tensor_per_task():
    out = MultiLeNet(TASKS)(torch.randn(7, 1, 28, 28))
    assert set(out) == {"left", "right"}
    assert all(v.shape == (7, 10) for v in out.values())


def test_layer_sizes_match_the_paper():
    trunk = MultiLeNetTrunk()
    convs = [m for m in trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 10, (5, 5)), (10, 20, (5, 5))]
    linear = [m for m in trunk.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(320, 50)]
    head = [m for m in multilenet_head() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in head] == [(50, 50), (50, 10)]
    # conv 260 + 5,020, fc 16,050; each head 2,550 + 510
    assert sum(p.numel() for p in trunk.parameters()) == 21_330
    assert sum(p.numel() for p in MultiLeNet(TASKS).parameters()) == 21_330 + 2 * 3_060


def test_trunk_matches_a_plain_reference():
    torch.manual_seed(0)
    trunk = MultiLeNetTrunk()
    conv1, conv2, fc = (m for m in trunk.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    x = torch.randn(5, 1, 28, 28, requires_grad=True)
    ref = F.relu(F.max_pool2d(conv1(x), 2))
    ref = F.relu(F.max_pool2d(conv2(ref), 2))
    ref = F.relu(fc(ref.flatten(1)))
    torch.testing.assert_close(trunk(x), ref)


def test_single_task_variant_and_shared_parameters():
    single = MultiLeNet([left_task()])
    assert list(single(torch.randn(2, 1, 28, 28))) == ["left"]
    net = MultiLeNet(TASKS)
    shared = {id(p) for p in net.shared_parameters()}
    assert shared == {id(p) for p in net.trunk.parameters()}
    head_params = {id(p) for h in net.heads.values() for p in h.parameters()}
    assert not shared & head_params


def test_head_width_follows_the_task():
    net = MultiLeNet([Task("parity_of_left", 2, lambda c: c.left % 2)])
    assert net(torch.randn(3, 1, 28, 28))["parity_of_left"].shape == (3, 2)


def test_fit_trains_it(mnist):
    from mtl_utils.foundations.data import validation_split
    from mtl_utils.settings.multimnist import make_composites
    train, _ = validation_split(mnist.train)
    comp = make_composites(train.subset(slice(0, 512)))
    data = TaskData.from_split(comp, TASKS)
    mu.seed_everything(0)
    net = MultiLeNet(TASKS)
    history = mu.fit(net, TASKS, data, recipe=mu.Recipe(epochs=2, batch_size=64, lr=1e-2), progress=False)
    losses = history.frame()["loss"]
    assert losses.iloc[-1] < losses.iloc[0]


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="28, 28"):
        MultiLeNetTrunk()(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="at least one task"):
        MultiLeNet([])
    with pytest.raises(ValueError, match="num_outputs"):
        multilenet_head(0)
    with pytest.raises(ValueError, match="duplicate"):
        MultiLeNet([left_task(), left_task()])
