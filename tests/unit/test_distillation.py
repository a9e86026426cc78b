import math

import pytest
import torch
import torch.nn.functional as F

from mtl_utils import HardSharingNet, Recipe, TaskData, fit, seed_everything
from mtl_utils.foundations.distill import (
    distillation_objective,
    group_logits,
)
from mtl_utils.foundations.losses import (
    distillation_loss,
    teacher_annealing,
)
from mtl_utils.foundations.tasks import digit_task, parity_task


def _batch(seed=0, n=16, k=10):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g), torch.randn(n, k, generator=g) * 3, torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
def test_beta_one_is_t_squared_kl(T):
    student, teacher, y = _batch()
    p = F.softmax(teacher / T, dim=1)
    kl = (p * (p.log() - F.log_softmax(student / T, dim=1))).sum(dim=1).mean()
    assert distillation_loss(student, teacher, y, T, beta=1.0).item() == pytest.approx(T**2 * kl.item(), rel=1e-5)


def test_beta_zero_is_cross_entropy_and_beta_mixes_linearly():
    student, teacher, y = _batch(1)
    ce = F.cross_entropy(student, y).item()
    soft = distillation_loss(student, teacher, y, 2.0, beta=1.0).item()
    assert distillation_loss(student, teacher, y, 2.0, beta=0.0).item() == pytest.approx(ce)
    assert distillation_loss(student, teacher, y, 2.0, beta=0.3).item() == pytest.approx(0.7 * ce + 0.3 * soft)


@pytest.mark.parametrize("T", [1.0, 3.0])
def test_gradient_vanishes_when_student_equals_teacher(T):
    _, teacher, y = _batch(2)
    student = teacher.clone().requires_grad_(True)
    loss = distillation_loss(student, teacher, y, T, beta=1.0)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert student.grad.abs().max().item() < 1e-6


def test_no_gradient_flows_into_the_teacher():
    student, teacher, y = _batch(3)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    distillation_loss(student, teacher, y, 2.0, beta=0.5).backward()
    assert teacher.grad is None and student.grad is not None


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf"), "2"])
def test_bad_temperature_is_rejected(T):
    student, teacher, y = _batch()
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(student, teacher, y, T)


def test_bad_shapes_and_beta_are_rejected():
    student, teacher, y = _batch()
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(student, teacher[:, :2], y)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(student, teacher[:8], y)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(student[0], teacher[0], y[:1])
    with pytest.raises(ValueError, match="one class per row"):
        distillation_loss(student, teacher, y[:5])
    for beta in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            distillation_loss(student, teacher, y, beta=beta)


def test_teacher_annealing_schedule():
    assert teacher_annealing(0.0) == 1.0 and teacher_annealing(1.0) == 0.0
    assert teacher_annealing(0.25) == pytest.approx(0.75)
    for bad in (-0.01, 1.5, float("nan")):
        with pytest.raises(ValueError, match="progress"):
            teacher_annealing(bad)


def test_annealed_loss_matches_bam_target_mixing_at_t1():
    """BAM! trains on CE(λ·y + (1−λ)·teacher, student); its gradient equals ours with β = 1 − λ."""
    _, teacher, y = _batch(4)
    lam = 0.3
    grads = []
    for kind in ("ours", "bam"):
        student = _batch(5)[0].requires_grad_(True)
        if kind == "ours":
            loss = distillation_loss(student, teacher, y, 1.0, beta=teacher_annealing(lam))
        else:
            target = lam * F.one_hot(y, 10).float() + (1 - lam) * F.softmax(teacher, dim=1)
            loss = F.cross_entropy(student, target)
        loss.backward()
        grads.append(student.grad)
    assert torch.allclose(*grads, atol=1e-6)


def test_group_logits_gives_parity_from_digits():
    digit_logits = _batch(6)[0]
    parity = group_logits(digit_logits, [[1, 3, 5, 7, 9], [0, 2, 4, 6, 8]])
    p = F.softmax(digit_logits, dim=1)
    assert torch.allclose(parity.exp().sum(dim=1), torch.ones(16), atol=1e-6)
    assert torch.allclose(F.softmax(parity, dim=1)[:, 1], p[:, ::2].sum(dim=1), atol=1e-6)
    sharp = torch.full((1, 10), -20.0)
    sharp[0, 4] = 20.0  # a confident "4" is a confident "even"
    assert group_logits(sharp, [[1, 3, 5, 7, 9], [0, 2, 4, 6, 8]]).exp()[0, 1].item() > 0.999


@pytest.mark.parametrize("groups", [[[0, 1, 2, 3, 4], [5, 6, 7, 8]], [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8, 9]], [],
                                    [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], []]])
def test_group_logits_rejects_groups_that_do_not_partition(groups):
    with pytest.raises(ValueError, match="group"):
        group_logits(torch.zeros(2, 10), groups)
    with pytest.raises(ValueError, match=r"\[batch, classes\]"):
        group_logits(torch.zeros(10), [[0]])


def test_distillation_objective_in_fit(mnist):
    tasks = [digit_task(), parity_task()]
    data = TaskData.from_split(mnist.train, tasks).subset(torch.arange(1024))
    teacher = {"teacher_digit": F.one_hot(data.targets["digit"], 10).float() * 5,
               "teacher_parity": F.one_hot(data.targets["parity"], 2).float() * 5}
    data = data.with_targets(**teacher)
    seed_everything(0)
    net = HardSharingNet.for_tasks(tasks)
    seen = []

    def schedule(progress):
        seen.append(progress)
        return teacher_annealing(progress)

    objective = distillation_objective({"digit": "teacher_digit", "parity": "teacher_parity"}, 2.0, schedule)
    h = fit(net, tasks, data, weights={"digit": 0.0, "parity": 0.0}, extra_loss=objective,
            recipe=Recipe(epochs=2, batch_size=128), progress=False)
    frame = h.frame()
    assert frame["loss"].iloc[1] < frame["loss"].iloc[0]
    assert frame["digit_train_accuracy"].iloc[1] > 0.5
    assert seen[0] == 0.0 and 0.9 < seen[-1] < 1.0 and seen == sorted(seen)


def test_distillation_objective_rejects_bad_setups():
    with pytest.raises(ValueError, match="temperature"):
        distillation_objective({"digit": "teacher_digit"}, 0.0, 0.5)
    with pytest.raises(ValueError, match="beta"):
        distillation_objective({"digit": "teacher_digit"}, 1.0, 2.0)
    with pytest.raises(ValueError, match="at least one task"):
        distillation_objective({}, 1.0, 0.5)
    objective = distillation_objective({"digit": "teacher_digit"}, 1.0, 0.5)
    with pytest.raises(ValueError, match=r"no targets \['teacher_digit'\]"):
        objective({"digit": torch.zeros(2, 10)}, {"digit": torch.zeros(2, dtype=torch.long)}, 0.0)
    assert math.isfinite(objective({"digit": torch.zeros(2, 10)},
                                   {"digit": torch.zeros(2, dtype=torch.long),
                                    "teacher_digit": torch.zeros(2, 10)}, 0.0).item())
