"""A small vision Transformer for 28×28 images and the ways to share it between tasks (chapter 11).

The encoder cuts an image into 7×7 patches (16 tokens on a 4×4 grid), embeds each with one linear map, adds a learned
position embedding, and runs PyTorch's own ``nn.TransformerEncoder`` (pre-norm layers, no dropout). Learned *query
tokens* go in front of the patch tokens. An attention mask hides the query tokens from every token, themselves
included: a query token reads the patch sequence at every layer, but nothing reads it, so the patch sequence is the
same whichever queries (and however many) are present, and each query's attention over the 16 patches sums to 1.
With one query this is the ``[CLS]`` token of Dosovitskiy et al. (2021).

The ways to use it for several tasks, from no sharing to full sharing:

- ``SeparateViTs``: one encoder (and one ``[CLS]`` query) per task, no sharing;
- ``BranchedViT``: shared lower layers (with one query token per task), then task-specific upper layers: each task
  continues its own query and the shared patch tokens through layers of its own;
- ``TaskTokenViT``: one shared encoder and one learned query token per task; each head reads its own token's output
  (structure sharing: the tasks share every weight of the encoder but each reads it through its own query);
- hard sharing, where every head reads one shared summary: ``ClsTokenViT`` (a single ``[CLS]`` query),
  ``ConcatQueryViT`` (several query tokens whose outputs are concatenated: as many query tokens and summary numbers
  as task tokens, but no query belongs to a task) and ``MeanPoolViT`` (no query: the mean of the patch outputs).

Every model's ``forward`` returns ``{task_name: logits}``, so ``mtl_utils.fit`` trains it; ``query_attention``
returns each query's attention over the patches in the last layer. ``attention_flops`` counts the two attention
products (QKᵀ and the weighted sum of the values), which ``torch.utils.flop_counter`` does not see on the CPU: there
``scaled_dot_product_attention`` runs a kernel (``_scaled_dot_product_flash_attention_for_cpu``) that has no FLOP
formula, so it counts 0 for it.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..foundations.tasks import Task, check_tasks

__all__ = ["TinyViT", "SeparateViTs", "ClsTokenViT", "ConcatQueryViT", "MeanPoolViT", "TaskTokenViT", "BranchedViT",
           "query_mask", "attention_flops"]


def query_mask(n_queries: int, n_patches: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean attention mask ``[Q + P, Q + P]``, True where attention is forbidden: no token attends to a query."""
    mask = torch.zeros(n_queries + n_patches, n_queries + n_patches, dtype=torch.bool, device=device)
    mask[:, :n_queries] = True
    return mask


def _encoder(width: int, heads: int, layers: int, final_norm: bool) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width) if final_norm else None,
                                 enable_nested_tensor=False)


def _last_layer_attention(encoder: nn.TransformerEncoder, h: torch.Tensor, mask: torch.Tensor,
                          n_queries: int) -> torch.Tensor:
    """The queries' attention over the patches in ``encoder``'s last layer, averaged over heads: ``[B, Q, P]``."""
    *lower, last = encoder.layers
    for layer in lower:
        h = layer(h, src_mask=mask)
    h = last.norm1(h)  # pre-norm: the attention reads the normalized tokens
    _, weights = last.self_attn(h, h, h, attn_mask=mask, need_weights=True, average_attn_weights=True)
    return weights[:, :n_queries, n_queries:]


class TinyViT(nn.Module):
    """Patch embedding, learned positions, ``n_queries`` learned query tokens and a pre-norm Transformer encoder.

    ``forward(x)`` maps images ``[B, 1, 28, 28]`` to the encoder's output for every token, ``[B, Q + P, width]``:
    the ``n_queries`` queries first, then the patches (after a final LayerNorm unless ``final_norm=False``, for an
    encoder that more layers continue). ``n_queries=0`` gives the patches alone. Defaults: 7×7 patches (16 tokens),
    width 64, 2 layers, 4 heads, a feed-forward width of 2 × width.
    """

    def __init__(self, n_queries: int = 1, patch: int = 7, width: int = 64, layers: int = 2, heads: int = 4,
                 image: int = 28, final_norm: bool = True) -> None:
        super().__init__()
        if not isinstance(n_queries, int) or n_queries < 0:
            raise ValueError(f"n_queries must be an int >= 0, got {n_queries!r}")
        for name, value in [("patch", patch), ("width", width), ("layers", layers), ("heads", heads),
                            ("image", image)]:
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if image % patch or width % heads:
            raise ValueError(f"patch ({patch}) must divide image ({image}) and heads ({heads}) must divide width "
                             f"({width})")
        self.image, self.n_queries, self.width, self.heads = image, n_queries, width, heads
        self.n_patches = (image // patch) ** 2
        self.embed = nn.Conv2d(1, width, patch, stride=patch)  # one linear map per patch
        self.position = nn.Parameter(0.02 * torch.randn(1, self.n_patches, width))
        self.queries = nn.Parameter(0.02 * torch.randn(1, n_queries, width))
        self.encoder = _encoder(width, heads, layers, final_norm)
        self.register_buffer("mask", query_mask(n_queries, self.n_patches), persistent=False)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input: the query tokens followed by the embedded patches, ``[B, Q + P, width]``."""
        if x.dim() != 4 or x.shape[1:] != (1, self.image, self.image):
            raise ValueError(f"TinyViT expects images [B, 1, {self.image}, {self.image}], got {tuple(x.shape)}")
        patches = self.embed(x).flatten(2).transpose(1, 2) + self.position
        return torch.cat([self.queries.expand(len(x), -1, -1), patches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.tokens(x), mask=self.mask)

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each query's attention over the patches in the last layer, averaged over heads: ``[B, Q, P]``, rows sum
        to 1. Patches are in row-major order of the ``sqrt(P) × sqrt(P)`` grid."""
        return _last_layer_attention(self.encoder, self.tokens(x), self.mask, self.n_queries)


def _heads(tasks: Sequence[Task], width: int) -> nn.ModuleDict:
    return nn.ModuleDict({t.name: nn.Linear(width, t.num_outputs) for t in tasks})


class SeparateViTs(nn.Module):
    """No sharing: one ``TinyViT`` with a ``[CLS]`` query and one head per task."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.encoders = nn.ModuleDict({t.name: TinyViT(1, **vit) for t in tasks})
        self.heads = _heads(tasks, self.encoders[tasks[0].name].width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(self.encoders[name](x)[:, 0]) for name, head in self.heads.items()}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each task's ``[CLS]`` attention over the patches, tasks in head order: ``[B, T, P]``."""
        return torch.cat([self.encoders[name].query_attention(x) for name in self.heads], dim=1)


class ClsTokenViT(nn.Module):
    """Hard sharing through a ``[CLS]`` token: one shared ``TinyViT`` whose single query's output (``width``
    numbers) feeds every task's head."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.trunk = TinyViT(1, **vit)
        self.heads = _heads(tasks, self.trunk.width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)[:, 0]
        return {name: head(z) for name, head in self.heads.items()}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The single ``[CLS]`` query's attention over the patches: ``[B, 1, P]``."""
        return self.trunk.query_attention(x)


class ConcatQueryViT(nn.Module):
    """Hard sharing through several query tokens: one shared ``TinyViT`` with ``n_queries`` queries (default: one
    per task) whose outputs are concatenated, ``n_queries × width`` numbers, and every head reads all of them.

    With one query per task it runs the same encoder on the same tokens as ``TaskTokenViT`` (the same FLOPs and the
    same summary size); only the heads differ: no query belongs to a task.
    """

    def __init__(self, tasks: Sequence[Task], n_queries: int | None = None, **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        n_queries = len(tasks) if n_queries is None else n_queries
        if not isinstance(n_queries, int) or n_queries < 1:
            raise ValueError(f"n_queries must be a positive int, got {n_queries!r}")
        self.trunk = TinyViT(n_queries, **vit)
        self.heads = _heads(tasks, n_queries * self.trunk.width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)[:, : self.trunk.n_queries].flatten(1)
        return {name: head(z) for name, head in self.heads.items()}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each query's attention over the patches: ``[B, n_queries, P]``."""
        return self.trunk.query_attention(x)


class MeanPoolViT(nn.Module):
    """Hard sharing through mean pooling: one shared ``TinyViT`` without queries; every head reads the mean of the
    patch tokens' outputs (``width`` numbers)."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.trunk = TinyViT(0, **vit)
        self.heads = _heads(tasks, self.trunk.width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x).mean(1)
        return {name: head(z) for name, head in self.heads.items()}


class TaskTokenViT(nn.Module):
    """Structure sharing: one shared ``TinyViT`` with one learned query token per task; task ``i``'s head reads the
    output of query token ``i`` (tasks in the order given)."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.trunk = TinyViT(len(tasks), **vit)
        self.heads = _heads(tasks, self.trunk.width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: head(z[:, i]) for i, (name, head) in enumerate(self.heads.items())}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each task token's attention over the patches, tasks in head order: ``[B, T, P]``."""
        return self.trunk.query_attention(x)


class BranchedViT(nn.Module):
    """Shared lower layers, task-specific upper layers: "share, then specialize".

    The trunk is a ``TinyViT`` of ``shared_layers`` layers with one query token per task (without the final
    LayerNorm). Task ``i`` then runs its own ``layers - shared_layers`` encoder layers (and final LayerNorm) on its
    query's output followed by the shared patch tokens, with the same mask, and its head reads its query. With
    ``shared_layers = layers`` this would be ``TaskTokenViT``; with no shared layer, ``SeparateViTs`` with a shared
    patch embedding.
    """

    def __init__(self, tasks: Sequence[Task], shared_layers: int = 1, layers: int = 2, **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        if not isinstance(layers, int) or not isinstance(shared_layers, int) or not 1 <= shared_layers < layers:
            raise ValueError(f"shared_layers must be an int in [1, layers - 1] = [1, {layers - 1}], got "
                             f"{shared_layers!r}")
        self.trunk = TinyViT(len(tasks), layers=shared_layers, final_norm=False, **vit)
        width, heads = self.trunk.width, self.trunk.heads
        self.upper = nn.ModuleDict({t.name: _encoder(width, heads, layers - shared_layers, True) for t in tasks})
        self.heads = _heads(tasks, width)
        self.register_buffer("mask", query_mask(1, self.trunk.n_patches), persistent=False)

    def _branch_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each task's input to its upper layers: its query's output, then the shared patch tokens."""
        h = self.trunk(x)
        t = self.trunk.n_queries
        return [torch.cat([h[:, i : i + 1], h[:, t:]], dim=1) for i in range(t)]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        branches = self._branch_inputs(x)
        return {name: head(self.upper[name](h, mask=self.mask)[:, 0])
                for (name, head), h in zip(self.heads.items(), branches)}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each task's query attention over the patches in its own last layer, tasks in head order: ``[B, T, P]``."""
        return torch.cat([_last_layer_attention(self.upper[name], h, self.mask, 1)
                          for name, h in zip(self.heads, self._branch_inputs(x))], dim=1)


def attention_flops(model: nn.Module, input_shape: tuple[int, ...] = (1, 28, 28)) -> int:
    """FLOPs per image of the attention products in every ``nn.MultiheadAttention`` of ``model``: QKᵀ and the
    attention-weighted sum of the values, ``2·L·S·d`` each for ``L`` queries, ``S`` keys and width ``d`` (summed over
    heads), so ``4·S²·d`` per self-attention layer over ``S`` tokens. A multiply-add counts as 2, as in
    ``torch.utils.flop_counter``; the softmax and the scaling are not counted.

    The dense products are counted, masked entries included, because that is what PyTorch computes. Add the result
    to ``mtl_utils.foundations.cost.flops_per_image``, whose counter sees the linear maps but, on the CPU, not these products.
    """
    sizes: list[int] = []

    def record(module: nn.MultiheadAttention, args: tuple) -> None:
        query, key = args[0], args[1]
        if not module.batch_first:
            query, key = query.transpose(0, 1), key.transpose(0, 1)
        sizes.append(4 * query.shape[-2] * key.shape[-2] * module.embed_dim * query.shape[0])

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    if not hooks:
        raise ValueError(f"{type(model).__name__} has no nn.MultiheadAttention: it has no attention products")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.enable_grad():  # gradients on: PyTorch's fused inference path would skip the attention modules
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return sum(sizes)
