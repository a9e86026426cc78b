import pytest
import torch

from mtl_utils.foundations import data as D
from mtl_utils.foundations.tasks import digit_task, parity_task


def test_normalize_matches_the_articles_transform():
    x = torch.tensor([[[0, 255], [51, 128]]], dtype=torch.uint8)
    expected = (x.float() / 255 - 0.5) / 0.5
    out = D.normalize(x)
    assert out.shape == (1, 1, 2, 2)
    assert torch.allclose(out[:, 0], expected)
    with pytest.raises(ValueError, match="uint8"):
        D.normalize(x.float())


def test_label_functions(mnist):
    split = mnist.train.subset(torch.arange(100))
    assert torch.equal(D.digit(split), split.labels)
    assert torch.equal(D.parity(split), (split.labels % 2 == 0).long())
    ink = D.ink_mass(split)
    assert ink.shape == (100,) and 0 < ink.min() and ink.max() < 1


def test_stratified_subset_is_balanced_and_seeded(mnist):
    labels = mnist.train.labels
    idx = D.stratified_subset(labels, 105, seed=3)
    assert len(idx) == 105 and len(idx.unique()) == 105
    counts = labels[idx].bincount(minlength=10)
    assert counts.max() - counts.min() <= 1
    assert torch.equal(idx, D.stratified_subset(labels, 105, seed=3))
    assert not torch.equal(idx, D.stratified_subset(labels, 105, seed=4))


@pytest.mark.parametrize("n, message", [(0, "between 1"), (5, "smaller than the number of classes"),
                                        (70000, "between 1")])
def test_stratified_subset_rejects_bad_sizes(mnist, n, message):
    with pytest.raises(ValueError, match=message):
        D.stratified_subset(mnist.train.labels, n)


def test_stratified_subset_rejects_impossible_balance():
    labels = torch.tensor([0] * 10 + [1])
    with pytest.raises(ValueError, match="fewer than"):
        D.stratified_subset(labels, 6)


def test_task_data_batches(mnist):
    tasks = [digit_task(), parity_task()]
    data = D.TaskData.from_split(mnist.test, tasks).subset(torch.arange(250))
    batches = list(data.batches(100))
    assert [len(x) for x, _ in batches] == [100, 100, 50]
    x, y = batches[0]
    assert x.shape == (100, 1, 28, 28) and x.dtype == torch.float32
    assert set(y) == {"digit", "parity"}
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a = torch.cat([y["digit"] for _, y in data.batches(64, shuffle=True, generator=g1)])
    b = torch.cat([y["digit"] for _, y in data.batches(64, shuffle=True, generator=g2)])
    assert torch.equal(a, b) and sorted(a.tolist()) == sorted(data.targets["digit"].tolist())
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(0))


def test_task_data_rejects_misaligned_targets(mnist):
    with pytest.raises(ValueError, match="has 5 rows"):
        D.TaskData(mnist.test.images[:10], {"digit": torch.zeros(5)})
    with pytest.raises(ValueError, match="uint8"):
        D.TaskData(mnist.test.images[:10].float())


def test_split_checks_shapes(mnist):
    with pytest.raises(ValueError, match="labels must have shape"):
        D.Split(mnist.test.images[:10], mnist.test.labels[:9])
