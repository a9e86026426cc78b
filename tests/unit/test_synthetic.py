import pytest
import torch

from mtl_utils.settings.synthetic import (
    DEFAULTS,
    label_correlation,
    make_tasks,
    task_weights,
)


@pytest.mark.parametrize("p", [1.0, 0.9, 0.5, 0.0, -0.3, -1.0])
def test_cosine_between_task_weights_is_p_and_norm_is_c(p):
    w = task_weights(p, d=100, c=2.5, generator=torch.Generator().manual_seed(3))
    assert w.shape == (2, 100) and w.dtype == torch.float64
    cos = float(w[0] @ w[1] / (w[0].norm() * w[1].norm()))
    assert cos == pytest.approx(p, abs=1e-12)
    assert w.norm(dim=1).tolist() == pytest.approx([2.5, 2.5], abs=1e-12)
    data = make_tasks(50, p, d=100, c=2.5, seed=3)  # and the weights make_tasks returns with its data
    cos = float(data.w[0] @ data.w[1] / (data.w[0].norm() * data.w[1].norm()))
    assert cos == pytest.approx(p, abs=1e-12) and data.w.norm(dim=1).tolist() == pytest.approx([2.5, 2.5], abs=1e-12)


def test_labels_follow_the_formula_by_hand():
    data = make_tasks(7, 0.6, d=5, seed=1, m=3, noise_std=0.0)
    z = data.x.double() @ data.w.T
    for t, name in enumerate(("task1", "task2")):
        by_hand = z[:, t] + sum(torch.sin(k * z[:, t] + (k - 1) ** 2) for k in (1, 2, 3))
        torch.testing.assert_close(data.targets[name], by_hand.float())


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_tasks(50, 0.8, d=10, seed=4), make_tasks(50, 0.8, d=10, seed=4), make_tasks(50, 0.8, d=10, seed=5)
    assert torch.equal(a.x, b.x) and all(torch.equal(a.targets[k], b.targets[k]) for k in a.targets)
    assert not torch.equal(a.x, c.x)


def test_p_changes_only_the_second_task():
    a, b = make_tasks(200, 1.0, d=10, seed=0), make_tasks(200, 0.3, d=10, seed=0)
    assert torch.equal(a.x, b.x) and torch.equal(a.targets["task1"], b.targets["task1"])
    assert not torch.equal(a.targets["task2"], b.targets["task2"])


def test_label_correlation_is_one_without_noise_at_p_one_and_falls_with_p():
    assert label_correlation(make_tasks(500, 1.0, d=10, noise_std=0.0)) == pytest.approx(1.0)
    values = [label_correlation(make_tasks(20_000, p, d=20, m=3)) for p in (1.0, 0.8, 0.5, 0.0)]
    assert values == sorted(values, reverse=True)
    assert abs(values[-1]) < 0.05


def test_noise_has_the_stated_standard_deviation():
    clean, noisy = make_tasks(20_000, 0.5, d=10, noise_std=0.0), make_tasks(20_000, 0.5, d=10)
    residual = noisy.targets["task1"] - clean.targets["task1"]
    assert residual.std().item() == pytest.approx(DEFAULTS["noise_std"], rel=0.05)


def test_subset_keeps_the_tasks():
    data = make_tasks(30, 0.5, d=4)
    part = data.subset(slice(10, 20))
    assert len(part) == 10 and torch.equal(part.x, data.x[10:20]) and torch.equal(part.w, data.w)


@pytest.mark.parametrize("kwargs, word", [({"p": 1.5}, "p must"), ({"p": -1.01}, "p must"), ({"p": "a"}, "p must"),
                                          ({"d": 1}, "d must"), ({"n": 0}, "n must"), ({"m": 0}, "m must"),
                                          ({"noise_std": -1.0}, "noise_std"), ({"names": ("a", "a")}, "names")])
def test_bad_input_gets_one_clear_error(kwargs, word):
    args = {"n": 10, "p": 0.5, "d": 5, **kwargs}
    with pytest.raises(ValueError, match=word):
        make_tasks(**args)


def test_task_weights_rejects_bad_c_and_label_correlation_needs_samples():
    with pytest.raises(ValueError, match="c must"):
        task_weights(0.5, 10, c=0.0)
    with pytest.raises(ValueError, match="two samples"):
        label_correlation(make_tasks(1, 0.5, d=4))
