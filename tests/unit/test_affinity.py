import pandas as pd
import pytest
import torch
from torch import nn

from mtl_utils.foundations.models import HardSharingNet
from mtl_utils.foundations.tasks import Task, digit_task, parity_task
from mtl_utils.relatedness import affinity


def _net_and_batch(tasks, seed=0, batch=16):
    torch.manual_seed(seed)
    net = HardSharingNet.for_tasks(tasks, width=0.5)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, 28, 28, generator=g)
    digit = torch.randint(0, 10, (batch,), generator=g)
    targets = {"digit": digit, "parity": (digit % 2 == 0).long(), "twin": digit}
    return net, x, targets


def _twin_tasks():
    """digit, parity, and a second digit task whose head is a copy of the digit head (an identical task)."""
    tasks = [digit_task(), parity_task(), Task("twin", 10, digit_task().label_fn)]
    net, x, targets = _net_and_batch(tasks)
    net.heads["twin"].load_state_dict(net.heads["digit"].state_dict())
    return tasks, net, x, targets


def test_shapes_and_shared_parameters():
    tasks, net, x, targets = _twin_tasks()
    trunk_size = sum(p.numel() for p in net.trunk.parameters())
    assert set(affinity.shared_parameters(net)) == {f"trunk.{n}" for n, _ in net.trunk.named_parameters()}
    assert affinity.task_losses(net, tasks, x, targets).shape == (3,)
    assert affinity.task_gradients(net, tasks, x, targets).shape == (3, trunk_size)
    assert affinity.gradient_cosine(net, tasks, x, targets).shape == (3, 3)
    assert affinity.lookahead_affinity(net, tasks, x, targets, lr=0.1).shape == (3, 3)


def test_identical_tasks_have_cosine_one_and_equal_positive_affinity():
    tasks, net, x, targets = _twin_tasks()
    cos = affinity.gradient_cosine(net, tasks, x, targets)
    torch.testing.assert_close(cos.diagonal(), torch.ones(3))
    torch.testing.assert_close(cos[0, 2], torch.tensor(1.0))
    torch.testing.assert_close(cos, cos.T)
    z = affinity.lookahead_affinity(net, tasks, x, targets, lr=0.05)
    # A small step on a task's own loss lowers it; a step for the twin is the same step.
    assert (z.diagonal() > 0).all()
    assert z[0, 2] > 0 and z[2, 0] > 0
    torch.testing.assert_close(z[:, 0], z[:, 2])


def test_lookahead_matches_a_manual_step_and_leaves_the_model_unchanged():
    tasks, net, x, targets = _twin_tasks()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    z = affinity.lookahead_affinity(net, tasks, x, targets, lr=0.1)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])
    # Step the trunk by hand on the parity loss and compare the digit's relative change with Z[digit, parity].
    loss_before = affinity.task_losses(net, tasks, x, targets).detach()
    grads = torch.autograd.grad(affinity.task_losses(net, tasks, x, targets)[1], list(net.trunk.parameters()))
    with torch.no_grad():
        for p, g in zip(net.trunk.parameters(), grads):
            p -= 0.1 * g
        after = affinity.task_losses(net, tasks, x, targets)
    torch.testing.assert_close(z[:, 1], 1 - after / loss_before)


def test_opposite_regression_targets_have_negative_cosine():
    up = Task("up", 1, lambda s: s.labels.float(), loss=lambda o, t: (o.squeeze(1) - t).pow(2).mean())
    down = Task("down", 1, lambda s: s.labels.float(), loss=lambda o, t: (o.squeeze(1) - t).pow(2).mean())
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    head = nn.Linear(3, 1)
    net = HardSharingNet(trunk, {"up": head, "down": head})  # one head: the outputs are equal
    x = torch.randn(8, 1, 2, 2)
    out = net(x)["up"].detach().squeeze(1)
    cos = affinity.gradient_cosine(net, [up, down], x, {"up": out + 1, "down": out - 1})
    torch.testing.assert_close(cos[0, 1], torch.tensor(-1.0))


def test_best_split_finds_the_obvious_groups():
    names = list("abcd")
    aff = pd.DataFrame([[0, 1, -1, -1], [1, 0, -1, -1], [-1, -1, 0, 1], [-1, -1, 1, 0]], index=names,
                       columns=names, dtype=float)
    groups, score = affinity.best_split(aff, 2)
    assert groups == [["a", "b"], ["c", "d"]] and score == pytest.approx(4.0)
    groups, score = affinity.best_split(aff, 1)
    assert groups == [names] and score == pytest.approx(4 * (1 - 2) / 3)
    groups, score = affinity.best_split(aff, 4)
    assert sorted(map(tuple, groups)) == [("a",), ("b",), ("c",), ("d",)] and score == 0.0


def test_spearman_known_values():
    assert affinity.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert affinity.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert affinity.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert affinity.spearman([1, 2, 3], [1, 9, 100]) == pytest.approx(1.0)  # ranks only


def test_bad_inputs():
    tasks, net, x, targets = _twin_tasks()
    with pytest.raises(ValueError, match="no parameters under 'body'"):
        affinity.gradient_cosine(net, tasks, x, targets, shared="body")
    with pytest.raises(ValueError, match="lr must be"):
        affinity.lookahead_affinity(net, tasks, x, targets, lr=0)
    with pytest.raises(ValueError, match="no entry for task"):
        affinity.task_losses(net, tasks, x, {"digit": targets["digit"]})
    with pytest.raises(ValueError, match="float batch"):
        affinity.task_losses(net, tasks, x[0], targets)
    with pytest.raises(ValueError, match="at least one task"):
        affinity.task_losses(net, [], x, targets)
    names = list("abc")
    square = pd.DataFrame(0.0, index=names, columns=names)
    with pytest.raises(ValueError, match="same task order"):
        affinity.best_split(square[list("cba")])
    with pytest.raises(ValueError, match="groups must be"):
        affinity.best_split(square, 4)
    with pytest.raises(ValueError, match="equal length"):
        affinity.spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="constant"):
        affinity.spearman([1, 1, 1], [1, 2, 3])


def test_several_step_sizes_at_once():
    tasks, net, x, targets = _twin_tasks()
    both = affinity.lookahead_affinity(net, tasks, x, targets, lr=[0.01, 0.1])
    assert both.shape == (2, 3, 3)
    torch.testing.assert_close(both[1], affinity.lookahead_affinity(net, tasks, x, targets, lr=0.1))
    with pytest.raises(ValueError, match="lr must be"):
        affinity.lookahead_affinity(net, tasks, x, targets, lr=[])


def _trained_optimizer(net, kind, steps=3):
    """An optimizer over ``net`` with a few real steps behind it, so that its state (momentum, moments) is not empty."""
    params = list(net.parameters())
    if kind == "adam":
        opt = torch.optim.Adam(params, lr=0.01, fused=True)
    elif kind == "adamw":
        opt = torch.optim.AdamW(params, lr=0.01, weight_decay=0.1)
    else:
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True)
    torch.manual_seed(1)
    for _ in range(steps):
        opt.zero_grad()
        net(torch.randn(8, 1, 28, 28))["digit"].pow(2).mean().backward()
        opt.step()
    return opt


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("steps", [0, 3])
def test_optimizer_update_is_the_optimizers_own_step(kind, steps):
    import copy

    tasks, net, x, targets = _twin_tasks()
    opt = _trained_optimizer(net, kind, steps)
    trunk = affinity.shared_parameters(net)
    loss = affinity.task_losses(net, tasks, x, targets)[1]
    grads = torch.autograd.grad(loss, list(trunk.values()))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    stepped = affinity.optimizer_update(opt, trunk, grads)
    for k, v in net.state_dict().items():  # nothing changed
        torch.testing.assert_close(v, before[k])
    # The real thing: a copy of the net and its optimizer, stepped with these gradients on the trunk only.
    twin = copy.deepcopy((net, opt))
    twin_net, twin_opt = twin
    twin_opt.zero_grad(set_to_none=True)
    for p, g in zip(twin_net.trunk.parameters(), grads):
        p.grad = g.clone()
    twin_opt.step()
    for (name, value), p in zip(stepped.items(), twin_net.trunk.parameters()):
        torch.testing.assert_close(value, p.detach(), rtol=1e-5, atol=1e-7, msg=name)


def test_lookahead_with_the_optimizer_and_per_task_batches():
    import copy

    tasks, net, x, targets = _twin_tasks()
    opt = _trained_optimizer(net, "adam")
    # Each task its own batch, as with per-task training sets: digit and twin on the first 8 images, parity on
    # the last 8.
    images = {"digit": x[:8], "parity": x[8:], "twin": x[:8]}
    labels = {"digit": targets["digit"][:8], "parity": targets["parity"][8:], "twin": targets["twin"][:8]}
    losses = affinity.task_losses(net, tasks, images, labels)
    whole = affinity.task_losses(net, tasks, x, targets)
    part = affinity.task_losses(net, tasks[1:2], x[8:], {"parity": targets["parity"][8:]})
    torch.testing.assert_close(losses[1], part[0])
    torch.testing.assert_close(losses[0], affinity.task_losses(net, tasks[:1], x[:8], labels)[0])
    assert not torch.allclose(losses[1], whole[1])
    z = affinity.lookahead_affinity(net, tasks, images, labels, optimizer=opt)
    assert z.shape == (3, 3)
    # Column 1 by hand: a copy of net and optimizer steps the trunk on parity's loss; relative change of each loss.
    twin_net, twin_opt = copy.deepcopy((net, opt))
    twin_opt.zero_grad(set_to_none=True)
    affinity.task_losses(twin_net, tasks, images, labels)[1].backward()
    for p in twin_net.heads.parameters():
        p.grad = None
    twin_opt.step()
    with torch.no_grad():
        after = affinity.task_losses(twin_net, tasks, images, labels)
    torch.testing.assert_close(z[:, 1], 1 - after / losses.detach(), rtol=1e-4, atol=1e-6)


def test_optimizer_bad_inputs():
    tasks, net, x, targets = _twin_tasks()
    opt = _trained_optimizer(net, "adam")
    trunk = affinity.shared_parameters(net)
    grads = [torch.zeros_like(p) for p in trunk.values()]
    with pytest.raises(ValueError, match="exactly one of lr"):
        affinity.lookahead_affinity(net, tasks, x, targets)
    with pytest.raises(ValueError, match="exactly one of lr"):
        affinity.lookahead_affinity(net, tasks, x, targets, lr=0.1, optimizer=opt)
    with pytest.raises(ValueError, match="one tensor per parameter"):
        affinity.optimizer_update(opt, trunk, grads[:-1])
    with pytest.raises(ValueError, match="has shape"):
        affinity.optimizer_update(opt, trunk, [g.flatten() for g in grads])
    with pytest.raises(ValueError, match="SGD, Adam or AdamW"):
        affinity.optimizer_update(torch.optim.RMSprop(net.parameters()), trunk, grads)
    other = torch.optim.Adam(net.heads.parameters())
    with pytest.raises(ValueError, match="not one the optimizer updates"):
        affinity.optimizer_update(other, trunk, grads)
    with pytest.raises(ValueError, match="no batch for task"):
        affinity.task_losses(net, tasks, {"digit": x}, targets)
