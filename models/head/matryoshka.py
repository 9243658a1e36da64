"""Part 3, dimensionality reduction with Matryoshka sizes: every prefix of the embedding is an embedding.

One linear map to D; trained so that its first 64, 128, ... coordinates already work on their own
(Matryoshka Representation Learning), which lets a search index trade size for accuracy without
retraining. Each prefix is L2-normalised on its own.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from models.head.attention import orthogonal_linear


def nested_embeddings(vectors: torch.Tensor, sizes: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """(B, D) -> {size: (B, size)}: the first `size` coordinates, L2-normalised (in float32)."""
    return {size: F.normalize(vectors[:, :size].float(), dim=-1) for size in sizes}


class MatryoshkaProjection(nn.Module):
    """pooled (B, C) -> {size: unit (B, size)} for the nested sizes, the largest being D."""

    def __init__(self, dim_in: int, sizes: tuple[int, ...]):
        super().__init__()
        if list(sizes) != sorted(set(sizes)):
            raise ValueError(f"Matryoshka sizes must grow: {sizes}")
        self.sizes = sizes
        self.norm = nn.LayerNorm(dim_in)
        self.linear = orthogonal_linear(dim_in, sizes[-1])

    def forward(self, pooled: torch.Tensor) -> dict[int, torch.Tensor]:
        return nested_embeddings(self.linear(self.norm(pooled)), self.sizes)
