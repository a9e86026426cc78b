"""The small vision Transformer of chapter 11 and its ways of sharing between tasks."""
import pytest
import torch
from torch import nn

from mtl_utils import Recipe, TaskData, fit
from mtl_utils.architectures.transformer import (
    BranchedViT,
    ClsTokenViT,
    ConcatQueryViT,
    MeanPoolViT,
    SeparateViTs,
    TaskTokenViT,
    TinyViT,
    attention_flops,
    query_mask,
)
from mtl_utils.foundations.tasks import Task

TASKS = [Task("left", 10, lambda s: s.labels), Task("right", 3, lambda s: s.labels % 3)]
VARIANTS = [SeparateViTs, ClsTokenViT, ConcatQueryViT, MeanPoolViT, TaskTokenViT, BranchedViT]
N_QUERIES = {SeparateViTs: 2, ClsTokenViT: 1, ConcatQueryViT: 2, TaskTokenViT: 2, BranchedViT: 2}
LAYER = 4 * 64 * 64 + 4 * 64 + 2 * 64 * 128 + 128 + 64 + 4 * 64  # attention, feed-forward, two LayerNorms


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cls", VARIANTS)
def test_outputs_by_task_and_attention_sums_to_one(cls):
    torch.manual_seed(0)
    model = cls(TASKS)
    x = torch.randn(5, 1, 28, 28)
    out = model(x)
    assert list(out) == ["left", "right"]
    assert out["left"].shape == (5, 10) and out["right"].shape == (5, 3)
    if cls is MeanPoolViT:
        assert not hasattr(model, "query_attention")  # no query: the readout is a uniform mean by construction
        return
    attention = model.query_attention(x)
    assert attention.shape == (5, N_QUERIES[cls], 16)
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:2]))


def test_parameter_counts_by_hand():
    embed, position, norm = 49 * 64 + 64, 16 * 64, 2 * 64
    heads = lambda width: width * 13 + 13  # noqa: E731 (10 + 3 outputs)
    assert LAYER == 33_472
    assert n_params(ClsTokenViT(TASKS)) == embed + position + 64 + 2 * LAYER + norm + heads(64)
    assert n_params(TaskTokenViT(TASKS)) - n_params(ClsTokenViT(TASKS)) == 64  # one more query vector
    assert n_params(MeanPoolViT(TASKS)) - n_params(ClsTokenViT(TASKS)) == -64  # no query at all
    # Two concatenated queries: task tokens' parameters, but heads that read 128 numbers instead of 64.
    assert n_params(ConcatQueryViT(TASKS)) - n_params(TaskTokenViT(TASKS)) == 64 * 13
    assert n_params(SeparateViTs(TASKS)) == 2 * (embed + position + 64 + 2 * LAYER + norm) + heads(64)
    # Branched: the embedding, two queries and one shared layer, then one layer and a final norm per task.
    assert n_params(BranchedViT(TASKS)) == embed + position + 2 * 64 + LAYER + 2 * (LAYER + norm) + heads(64)


def test_tokens_are_sixteen_patches_after_the_queries():
    vit = TinyViT(n_queries=3)
    tokens = vit.tokens(torch.zeros(2, 1, 28, 28))
    assert tokens.shape == (2, 3 + 16, 64)
    assert vit(torch.zeros(2, 1, 28, 28)).shape == (2, 3 + 16, 64)
    mask = query_mask(3, 16)
    assert mask[:, :3].all() and not mask[:, 3:].any()


def test_the_patches_do_not_see_the_queries():
    torch.manual_seed(0)
    with_queries, without = TinyViT(n_queries=2), TinyViT(n_queries=0)
    without.load_state_dict({k: v for k, v in with_queries.state_dict().items() if k != "queries"}, strict=False)
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(with_queries(x)[:, 2:], without(x))


def test_mean_pool_reads_the_mean_of_the_patch_outputs():
    torch.manual_seed(0)
    model = MeanPoolViT(TASKS)
    x = torch.randn(4, 1, 28, 28)
    patches = model.trunk(x)
    assert patches.shape == (4, 16, 64)
    torch.testing.assert_close(model(x)["right"], model.heads["right"](patches.mean(1)))


def test_concatenated_queries_feed_every_head():
    torch.manual_seed(0)
    model = ConcatQueryViT(TASKS)
    assert model.heads["left"].in_features == 128
    x = torch.randn(4, 1, 28, 28)
    before = model(x)
    with torch.no_grad():
        model.trunk.queries[0, 1] += torch.randn(64)  # the second query changes both tasks' outputs
    after = model(x)
    assert not torch.allclose(after["left"], before["left"]) and not torch.allclose(after["right"], before["right"])
    assert ConcatQueryViT(TASKS, n_queries=3).trunk.queries.shape == (1, 3, 64)


def test_each_task_reads_its_own_token():
    torch.manual_seed(0)
    model = TaskTokenViT(TASKS)
    x = torch.randn(4, 1, 28, 28)
    before = model(x)
    with torch.no_grad():
        model.trunk.queries[0, 1] += torch.randn(64)  # change only the right task's token
    after = model(x)
    torch.testing.assert_close(after["left"], before["left"])
    assert not torch.allclose(after["right"], before["right"])


def test_branched_shares_the_lower_layer_and_not_the_upper():
    torch.manual_seed(0)
    model = BranchedViT(TASKS)
    assert len(model.trunk.encoder.layers) == 1 and model.trunk.encoder.norm is None
    assert all(len(upper.layers) == 1 for upper in model.upper.values())
    x = torch.randn(4, 1, 28, 28)
    before = model(x)
    with torch.no_grad():
        model.upper["right"].layers[0].linear2.bias += torch.randn(64)  # the right task's own layer
    after = model(x)
    torch.testing.assert_close(after["left"], before["left"])
    assert not torch.allclose(after["right"], before["right"])
    with torch.no_grad():
        model.trunk.encoder.layers[0].linear2.bias += torch.randn(64)  # the shared layer moves both
    moved = model(x)
    assert not torch.allclose(moved["left"], after["left"]) and not torch.allclose(moved["right"], after["right"])


def test_attention_flops_by_hand():
    s, d = 17, 64  # one query and 16 patches, width 64
    assert attention_flops(TinyViT(1)) == 2 * 4 * s * s * d  # QKᵀ and AV, 2·S²·d each, in each of two layers
    assert attention_flops(SeparateViTs(TASKS)) == 2 * attention_flops(ClsTokenViT(TASKS))
    assert attention_flops(TaskTokenViT(TASKS)) == attention_flops(ConcatQueryViT(TASKS)) == 2 * 4 * 18 * 18 * d
    assert attention_flops(MeanPoolViT(TASKS)) == 2 * 4 * 16 * 16 * d
    assert attention_flops(BranchedViT(TASKS)) == 4 * 18 * 18 * d + 2 * 4 * 17 * 17 * d
    assert attention_flops(TaskTokenViT(TASKS * 1, layers=3)) == 3 * 4 * 18 * 18 * d


def test_attention_flops_leaves_the_model_as_it_was():
    model = TaskTokenViT(TASKS)
    model.train()
    attention_flops(model)
    assert model.training
    assert not any(m._forward_pre_hooks for m in model.modules())


def test_fit_trains_it():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8)
    data = TaskData(images, {"left": torch.randint(0, 10, (64,)), "right": torch.randint(0, 3, (64,))})
    for cls in (TaskTokenViT, BranchedViT):
        history = fit(cls(TASKS), TASKS, data, recipe=Recipe(epochs=1, batch_size=32, lr=1e-3), progress=False)
        assert len(history.records) == 1


def test_bad_input():
    with pytest.raises(ValueError, match="images"):
        TaskTokenViT(TASKS)(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="divide"):
        TinyViT(patch=5)
    with pytest.raises(ValueError, match="n_queries must be an int >= 0"):
        TinyViT(n_queries=-1)
    with pytest.raises(ValueError, match="layers must be a positive int"):
        TinyViT(layers=0)
    with pytest.raises(ValueError, match="at least one task"):
        ClsTokenViT([])
    with pytest.raises(ValueError, match="n_queries must be a positive int"):
        ConcatQueryViT(TASKS, n_queries=0)
    for shared in (0, 2, 1.0):
        with pytest.raises(ValueError, match="shared_layers"):
            BranchedViT(TASKS, shared_layers=shared)
    with pytest.raises(ValueError, match="no nn.MultiheadAttention"):
        attention_flops(nn.Linear(784, 10), input_shape=(784,))
