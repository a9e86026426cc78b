import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtl_utils import (
    ARTICLE_RECIPE,
    HardSharingNet,
    Recipe,
    TaskData,
    evaluate,
    fit,
    seed_everything,
)
from mtl_utils.foundations.losses import check_weights
from mtl_utils.foundations.tasks import digit_task, parity_task
from mtl_utils.foundations.train import cpu_threads

TASKS = [digit_task(), parity_task()]
QUICK = Recipe(epochs=1, batch_size=64)


class ArticleNet(nn.Module):
    """The article's two-headed LeNet, written as a plain module that returns a tuple (digit, parity)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2 = nn.Linear(16 * 4 * 4, 120), nn.Linear(120, 84)
        self.digit_head, self.parity_head = nn.Linear(84, 10), nn.Linear(84, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return self.digit_head(x), self.parity_head(x)


@pytest.fixture(scope="module")
def small(mnist):
    train = TaskData.from_split(mnist.train, TASKS).subset(torch.arange(2000))
    test = TaskData.from_split(mnist.test, TASKS).subset(torch.arange(1000))
    return train, test


def test_articles_tuple_model_trains_to_98_percent(mnist):
    train, test = (TaskData.from_split(s, TASKS) for s in (mnist.train, mnist.test))
    seed_everything(0)
    net = ArticleNet()
    history = fit(net, TASKS, train, recipe=Recipe(epochs=2), progress=False)
    scores = evaluate(net, TASKS, test)
    assert scores["digit"] >= 0.98 and scores["parity"] >= 0.98, scores
    assert history.frame().shape[0] == 2 and history.seconds > 0


def test_history_has_losses_metrics_and_time(small):
    train, test = small
    seed_everything(0)
    h = fit(HardSharingNet.for_tasks(TASKS), TASKS, train, recipe=Recipe(epochs=2, batch_size=64),
            eval_data=test, progress=False)
    frame = h.frame()
    for col in ["seconds", "loss", "digit_loss", "parity_loss", "digit_train_accuracy", "digit_eval_accuracy",
                "parity_eval_accuracy"]:
        assert col in frame, col
    assert frame["loss"].iloc[1] < frame["loss"].iloc[0]
    assert frame["seconds"].is_monotonic_increasing


def test_same_seed_same_result(small):
    train, _ = small
    runs = []
    for _ in range(2):
        seed_everything(1)
        net = HardSharingNet.for_tasks(TASKS)
        fit(net, TASKS, train, recipe=QUICK, seed=5, progress=False)
        runs.append(torch.cat([p.flatten() for p in net.parameters()]))
    assert torch.equal(*runs)


def test_zero_weight_leaves_a_head_untouched(small):
    train, _ = small
    net = HardSharingNet.for_tasks(TASKS)
    before = net.heads["parity"].weight.clone()
    fit(net, TASKS, train, weights={"digit": 1.0, "parity": 0.0}, recipe=QUICK, progress=False)
    assert torch.equal(before, net.heads["parity"].weight)


def test_per_task_training_sets(small):
    train, test = small
    few = train.subset(torch.arange(50))
    seed_everything(0)
    net = HardSharingNet.for_tasks(TASKS)
    h = fit(net, TASKS, {"digit": few, "parity": train}, recipe=Recipe(epochs=1, batch_size=32), progress=False)
    assert len(h.records) == 1
    with pytest.raises(ValueError, match="one entry per task"):
        fit(net, TASKS, {"digit": few}, recipe=QUICK, progress=False)


def test_penalty_and_extra_loss_are_added(small):
    train, _ = small
    calls = []

    def extra(outputs, targets, progress):
        calls.append(progress)
        assert "teacher" in targets
        return outputs["digit"].sum() * 0

    net = HardSharingNet.for_tasks(TASKS)
    data = train.with_targets(teacher=torch.zeros(len(train), 10))
    h = fit(net, TASKS, data, recipe=QUICK, extra_loss=extra,
            penalty=lambda m: 0.1 * m.heads["digit"].weight.pow(2).sum(), progress=False)
    assert calls[0] == 0 and 0 < calls[-1] < 1
    assert h.records[0]["penalty"] > 0


@pytest.mark.parametrize("weights, message", [
    ({"digit": 1.0}, "missing: \\['parity'\\]"),
    ({"digit": 1.0, "parity": 1.0, "colour": 1.0}, "unknown: \\['colour'\\]"),
    ({"digit": 1.0, "parity": -0.5}, "must be >= 0"),
    ({"digit": 1.0, "parity": float("nan")}, "must be >= 0"),
])
def test_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        check_weights(weights, ["digit", "parity"])


class WrongWidth(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 3)

    def forward(self, x):
        z = self.lin(x.flatten(1))
        return {"digit": z, "parity": z[:, :2]}


@pytest.mark.parametrize("model, message", [
    (WrongWidth(), r"task 'digit': expected output shape \(64, 10\), got \(64, 3\)"),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), "one tensor but there are 2 tasks"),
    (HardSharingNet.for_tasks([digit_task()]), r"no entry for task\(s\) \['parity'\]"),
])
def test_bad_model_outputs(small, model, message):
    with pytest.raises(ValueError, match=message):
        fit(model, TASKS, small[0], recipe=QUICK, progress=False)


def test_unknown_task_in_data(small):
    other = digit_task().__class__("colour", 3, lambda s: s.labels % 3)
    with pytest.raises(ValueError, match="no targets for task 'colour'"):
        fit(HardSharingNet.for_tasks([other]), [other], small[0], recipe=QUICK, progress=False)
    with pytest.raises(ValueError, match="no targets for task"):
        evaluate(HardSharingNet.for_tasks([other]), [other], small[1])


def test_recipes_are_validated():
    assert ARTICLE_RECIPE.optimizer == "sgd" and ARTICLE_RECIPE.batch_size == 100 and ARTICLE_RECIPE.epochs == 10
    with pytest.raises(ValueError, match="unknown optimizer"):
        Recipe(optimizer="lbfgs")
    with pytest.raises(ValueError, match="positive"):
        Recipe(epochs=0)


def test_device_choice_can_be_forced(small):
    net = HardSharingNet.for_tasks(TASKS)
    fit(net, TASKS, small[0].subset(torch.arange(64)), recipe=QUICK, device="cpu", progress=False)
    assert next(net.parameters()).device.type == "cpu"


def test_fit_without_weighting_is_the_plain_loop(small):
    """Pin the default path: three SGD steps of fit equal a hand-written loop, bit for bit."""
    train, _ = small
    recipe = Recipe(epochs=1, batch_size=32, lr=0.01, optimizer="sgd", momentum=0.9, schedule="constant")
    seed_everything(0)
    net = HardSharingNet.for_tasks(TASKS)
    history = fit(net, TASKS, train, weights={"digit": 1.0, "parity": 0.5}, recipe=recipe, seed=7,
                  steps_per_epoch=3, progress=False)

    seed_everything(0)
    ref = HardSharingNet.for_tasks(TASKS)
    opt = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9, fused=True)
    batches = train.batches(32, shuffle=True, generator=torch.Generator().manual_seed(7))
    losses = []
    with cpu_threads(torch.device("cpu")):  # fit's thread count, so that the sums inside kernels agree
        for _, (x, y) in zip(range(3), batches):
            out = ref(x)
            loss = F.cross_entropy(out["digit"], y["digit"]) + 0.5 * F.cross_entropy(out["parity"], y["parity"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert history.records[0]["loss"] == sum(losses) / 3
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ref.parameters()))
    assert history.step_weights == [] and "digit_weight" not in history.records[0]


def test_non_finite_loss_stops_training_with_each_tasks_loss(small):
    train, _ = small
    seed_everything(0)
    net = HardSharingNet.for_tasks(TASKS)
    recipe = Recipe(epochs=3, batch_size=64, lr=1e6, optimizer="sgd", schedule="constant")
    with pytest.raises(FloatingPointError, match=r"not finite in epoch 1 .*digit_loss = .*parity_loss = "):
        fit(net, TASKS, train, recipe=recipe, steps_per_epoch=5, progress=False)
