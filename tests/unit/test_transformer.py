"""The small vision Transformer of chapter 11 and its three ways of sharing between tasks."""
import pytest
import torch

from mtl_utils import fit, Recipe, TaskData
from mtl_utils.tasks import Task
from mtl_utils.transformer import PooledViT, SeparateViTs, TaskTokenViT, TinyViT, query_mask

TASKS = [Task("left", 10, lambda s: s.labels), Task("right", 3, lambda s: s.labels % 3)]
VARIANTS = [SeparateViTs, PooledViT, TaskTokenViT]


@pytest.mark.parametrize("cls", VARIANTS)
def test_outputs_by_task_and_attention_sums_to_one(cls):
    torch.manual_seed(0)
    model = cls(TASKS)
    x = torch.randn(5, 1, 28, 28)
    out = model(x)
    assert list(out) == ["left", "right"]
    assert out["left"].shape == (5, 10) and out["right"].shape == (5, 3)
    attention = model.query_attention(x)
    assert attention.shape == (5, 1 if cls is PooledViT else 2, 16)
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:2]))


def test_one_query_token_per_task_and_shared_encoder():
    model = TaskTokenViT(TASKS)
    assert model.trunk.queries.shape == (1, 2, 64)
    assert PooledViT(TASKS).trunk.queries.shape == (1, 1, 64)
    # Structure sharing adds only one query vector (64 numbers) per extra task to hard sharing's parameters.
    n = lambda m: sum(p.numel() for p in m.parameters())
    assert n(model) - n(PooledViT(TASKS)) == 64
    assert n(SeparateViTs(TASKS)) > 1.9 * n(PooledViT(TASKS))


def test_tokens_are_sixteen_patches_after_the_queries():
    vit = TinyViT(n_queries=3)
    tokens = vit.tokens(torch.zeros(2, 1, 28, 28))
    assert tokens.shape == (2, 3 + 16, 64)
    mask = query_mask(3, 16)
    assert mask[:, :3].all() and not mask[:, 3:].any()


def test_each_task_reads_its_own_token():
    torch.manual_seed(0)
    model = TaskTokenViT(TASKS)
    x = torch.randn(4, 1, 28, 28)
    before = model(x)
    with torch.no_grad():
        model.trunk.queries[0, 1] += 1.0  # change only the right task's token
    after = model(x)
    torch.testing.assert_close(after["left"], before["left"])
    assert not torch.allclose(after["right"], before["right"])


def test_fit_trains_it():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8)
    data = TaskData(images, {"left": torch.randint(0, 10, (64,)), "right": torch.randint(0, 3, (64,))})
    model = TaskTokenViT(TASKS)
    history = fit(model, TASKS, data, recipe=Recipe(epochs=1, batch_size=32, lr=1e-3), progress=False)
    assert len(history.records) == 1


def test_bad_input():
    with pytest.raises(ValueError, match="images"):
        TaskTokenViT(TASKS)(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="divide"):
        TinyViT(patch=5)
    with pytest.raises(ValueError, match="positive int"):
        TinyViT(n_queries=0)
    with pytest.raises(ValueError, match="at least one task"):
        PooledViT([])
