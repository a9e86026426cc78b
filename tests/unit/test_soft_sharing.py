import pytest
import torch

from mtl_utils import Recipe, SingleTaskNet, TaskData, fit, seed_everything
from mtl_utils.foundations.models import (
    CrossStitchNet,
    SoftSharingNet,
    distance_penalty,
)
from mtl_utils.foundations.tasks import digit_task, parity_task

TASKS = [digit_task(), parity_task()]


@pytest.fixture(scope="module")
def small(mnist):
    return TaskData.from_split(mnist.train, TASKS).subset(torch.arange(1024))


def test_soft_net_returns_one_output_per_task():
    net = SoftSharingNet(TASKS)
    out = net(torch.zeros(3, 1, 28, 28))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"digit": (3, 10), "parity": (3, 2)}
    with pytest.raises(ValueError, match="at least two tasks"):
        SoftSharingNet([digit_task()])


def test_distance_is_zero_for_identical_towers_and_positive_otherwise():
    seed_everything(0)
    net = SoftSharingNet(TASKS)
    assert net.tower_distance().item() > 0  # independently initialized towers differ
    net.towers["parity"].trunk.load_state_dict(net.towers["digit"].trunk.state_dict())
    assert net.tower_distance().item() == 0.0  # heads differ (10 vs 2 outputs) but are not penalized
    with torch.no_grad():
        net.towers["parity"].trunk.features[0].bias[0] += 0.5
    assert net.tower_distance().item() == pytest.approx(0.25)


def test_penalty_gradient_pulls_the_towers_together():
    seed_everything(0)
    net = SoftSharingNet(TASKS)
    lam = 0.1
    before = net.tower_distance().item()
    distance_penalty(lam)(net).backward()
    wa, wb = net.towers["digit"].trunk.features[0].weight, net.towers["parity"].trunk.features[0].weight
    assert torch.allclose(wa.grad, 2 * lam * (wa - wb).detach())
    assert torch.allclose(wb.grad, -wa.grad)
    with torch.no_grad():  # a small gradient step shrinks the distance
        for p in net.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    assert net.tower_distance().item() < before * 0.95


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "0.1", None])
def test_penalty_strength_must_be_a_finite_non_negative_number(bad):
    with pytest.raises(ValueError, match="strength"):
        distance_penalty(bad)


def test_penalty_needs_a_soft_sharing_net():
    with pytest.raises(ValueError, match="needs a SoftSharingNet"):
        distance_penalty(1.0)(SingleTaskNet(digit_task()))


def test_lambda_zero_trains_each_tower_exactly_like_a_single_task_net(small):
    recipe = Recipe(epochs=1, batch_size=128)
    seed_everything(0)
    soft = SoftSharingNet(TASKS)
    single = SingleTaskNet(digit_task())
    single.load_state_dict(soft.towers["digit"].state_dict())
    fit(soft, TASKS, small, recipe=recipe, penalty=distance_penalty(0.0), seed=3, progress=False)
    fit(single, [digit_task()], small, recipe=recipe, seed=3, progress=False)
    for (name, a), b in zip(soft.towers["digit"].named_parameters(), single.parameters()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_large_lambda_makes_the_towers_nearly_identical(small):
    seed_everything(0)
    net = SoftSharingNet(TASKS)
    start = net.tower_distance().item()
    # Adam moves each weight by about lr per step whatever the gradient's size, so closing the gap takes steps
    fit(net, TASKS, small, recipe=Recipe(epochs=1, batch_size=64), penalty=distance_penalty(10.0),
        steps_per_epoch=150, progress=False)
    assert net.tower_distance().item() < 1e-3 * start


def test_cross_stitch_starts_as_independent_towers_when_alpha_is_identity():
    seed_everything(0)
    net = CrossStitchNet(TASKS, self_weight=1.0)
    x = torch.randn(4, 1, 28, 28)
    out = net(x)
    for name, tower in net.towers.items():
        assert torch.allclose(out[name], tower(x)[name], atol=1e-6)


def test_cross_stitch_mixes_and_learns_its_units():
    seed_everything(0)
    net = CrossStitchNet(TASKS)
    assert torch.allclose(net.alphas[0], torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    out = net(torch.randn(4, 1, 28, 28))
    out["digit"].sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.alphas)
    # the parity tower's first conv influences the digit output through the units
    assert net.towers["parity"].trunk.features[0].weight.grad.abs().sum() > 0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="self_weight"):
            CrossStitchNet(TASKS, self_weight=bad)
    with pytest.raises(ValueError, match="at least two tasks"):
        CrossStitchNet([parity_task()])
