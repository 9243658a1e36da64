"""Part 4, normalisation with multi-head attention: a pre-norm attention block with a residual.

Why this form: LayerNorm before the attention (pre-norm) keeps the residual path an identity, so the
block starts close to "pass the tokens through" and gradients reach the reducer unchanged; the
attention lets the surviving tokens exchange context (a kept patch learns what the merged rest held)
before the pooling picks among them. A per-head group norm alone would rescale but not mix.
"""

from __future__ import annotations

import torch
from torch import nn

from models.head.attention import HeadAttention


class AttentionNorm(nn.Module):
    """tokens (B, M, C) -> tokens + attention(LayerNorm(tokens)), same shape; weights (B, H, M, M)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attention = HeadAttention(dim, heads)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normed = self.norm(tokens)
        update, weights = self.attention(normed, normed)
        return tokens + update, weights
