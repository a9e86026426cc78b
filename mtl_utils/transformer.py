"""A small vision Transformer for 28×28 images and three ways to share it between tasks (chapter 11).

The encoder cuts an image into 7×7 patches (16 tokens on a 4×4 grid), embeds each with one linear map, adds a learned
position embedding, and runs PyTorch's own ``nn.TransformerEncoder`` (pre-norm layers, no dropout). Learned *query
tokens* go in front of the patch tokens. An attention mask hides the query tokens from every token, themselves
included: a query token reads the patch sequence at every layer, but nothing reads it, so the patch sequence is the
same whichever queries (and however many) are present, and each query's attention over the 16 patches sums to 1.
With one query this is the ``[CLS]`` token of Dosovitskiy et al. (2021).

The ways to use it for several tasks:

- ``SeparateViTs``: one encoder (and one ``[CLS]`` query) per task, no sharing;
- ``PooledViT``: one shared encoder and a single ``[CLS]`` query whose output feeds every head (hard sharing);
- ``TaskTokenViT``: one shared encoder and one learned query token per task; each head reads its own token's output
  (structure sharing: the tasks share every weight of the encoder but each reads it through its own query).

Every model's ``forward`` returns ``{task_name: logits}``, so ``mtl_utils.fit`` trains it; ``query_attention``
returns each query's attention over the patches in the last layer.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .tasks import Task, check_tasks

__all__ = ["TinyViT", "SeparateViTs", "PooledViT", "TaskTokenViT", "query_mask"]


def query_mask(n_queries: int, n_patches: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean attention mask ``[Q + P, Q + P]``, True where attention is forbidden: no token attends to a query."""
    mask = torch.zeros(n_queries + n_patches, n_queries + n_patches, dtype=torch.bool, device=device)
    mask[:, :n_queries] = True
    return mask


class TinyViT(nn.Module):
    """Patch embedding, learned positions, ``n_queries`` learned query tokens and a pre-norm Transformer encoder.

    ``forward(x)`` maps images ``[B, 1, 28, 28]`` to the queries' outputs ``[B, n_queries, width]`` (after a final
    LayerNorm). Defaults: 7×7 patches (16 tokens), width 64, 2 layers, 4 heads, a feed-forward width of 2 × width.
    """

    def __init__(self, n_queries: int = 1, patch: int = 7, width: int = 64, layers: int = 2, heads: int = 4,
                 image: int = 28) -> None:
        super().__init__()
        for name, value in [("n_queries", n_queries), ("patch", patch), ("width", width), ("layers", layers),
                            ("heads", heads), ("image", image)]:
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if image % patch or width % heads:
            raise ValueError(f"patch ({patch}) must divide image ({image}) and heads ({heads}) must divide width "
                             f"({width})")
        self.image, self.n_queries = image, n_queries
        self.n_patches = (image // patch) ** 2
        self.embed = nn.Conv2d(1, width, patch, stride=patch)  # one linear map per patch
        self.position = nn.Parameter(0.02 * torch.randn(1, self.n_patches, width))
        self.queries = nn.Parameter(0.02 * torch.randn(1, n_queries, width))
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)
        self.register_buffer("mask", query_mask(n_queries, self.n_patches), persistent=False)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input: the query tokens followed by the embedded patches, ``[B, Q + P, width]``."""
        if x.dim() != 4 or x.shape[1:] != (1, self.image, self.image):
            raise ValueError(f"TinyViT expects images [B, 1, {self.image}, {self.image}], got {tuple(x.shape)}")
        patches = self.embed(x).flatten(2).transpose(1, 2) + self.position
        return torch.cat([self.queries.expand(len(x), -1, -1), patches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.tokens(x), mask=self.mask)[:, : self.n_queries]

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each query's attention over the patches in the last layer, averaged over heads: ``[B, Q, P]``, rows sum
        to 1. Patches are in row-major order of the ``sqrt(P) × sqrt(P)`` grid."""
        h = self.tokens(x)
        *lower, last = self.encoder.layers
        for layer in lower:
            h = layer(h, src_mask=self.mask)
        h = last.norm1(h)  # pre-norm: the attention reads the normalized tokens
        _, weights = last.self_attn(h, h, h, attn_mask=self.mask, need_weights=True, average_attn_weights=True)
        return weights[:, : self.n_queries, self.n_queries:]


def _heads(tasks: Sequence[Task], width: int) -> nn.ModuleDict:
    return nn.ModuleDict({t.name: nn.Linear(width, t.num_outputs) for t in tasks})


class SeparateViTs(nn.Module):
    """No sharing: one ``TinyViT`` with a ``[CLS]`` query and one head per task."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.encoders = nn.ModuleDict({t.name: TinyViT(1, **vit) for t in tasks})
        self.heads = _heads(tasks, self.encoders[tasks[0].name].queries.shape[-1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(self.encoders[name](x)[:, 0]) for name, head in self.heads.items()}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each task's ``[CLS]`` attention over the patches, tasks in head order: ``[B, T, P]``."""
        return torch.cat([self.encoders[name].query_attention(x) for name in self.heads], dim=1)


class PooledViT(nn.Module):
    """Hard sharing: one shared ``TinyViT`` with a single ``[CLS]`` query whose output feeds every task's head."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.trunk = TinyViT(1, **vit)
        self.heads = _heads(tasks, self.trunk.queries.shape[-1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)[:, 0]
        return {name: head(z) for name, head in self.heads.items()}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The single ``[CLS]`` query's attention over the patches: ``[B, 1, P]``."""
        return self.trunk.query_attention(x)


class TaskTokenViT(nn.Module):
    """Structure sharing: one shared ``TinyViT`` with one learned query token per task; task ``i``'s head reads the
    output of query token ``i`` (tasks in the order given)."""

    def __init__(self, tasks: Sequence[Task], **vit) -> None:
        super().__init__()
        tasks = check_tasks(tasks)
        self.trunk = TinyViT(len(tasks), **vit)
        self.heads = _heads(tasks, self.trunk.queries.shape[-1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: head(z[:, i]) for i, (name, head) in enumerate(self.heads.items())}

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Each task token's attention over the patches, tasks in head order: ``[B, T, P]``."""
        return self.trunk.query_attention(x)
