"""Part 2, attention pooling: a learned probe asks, with H heads, which tokens make up the photo.

The keys and values are the reduced tokens plus, last, the frozen anchor token (anchor.py); both go
through the same LayerNorm so the anchor competes on equal terms. Per-head weights come back whole:
weights[:, h, :-1] is head h's focus over the reduced tokens, weights[:, h, -1] its share on the anchor.
"""

from __future__ import annotations

import torch
from torch import nn

from models.head.attention import HeadAttention


class AttentionPooling(nn.Module):
    """tokens (B, M, C) [+ anchor (B, 1, C)] -> (pooled (B, C), weights (B, H, M or M + 1))."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.probe = nn.Parameter(torch.empty(1, 1, dim))
        nn.init.normal_(self.probe, std=dim**-0.5)
        self.norm = nn.LayerNorm(dim)
        self.attention = HeadAttention(dim, heads)

    def forward(self, tokens: torch.Tensor, anchor: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        keys = tokens if anchor is None else torch.cat([tokens, anchor.to(tokens.dtype)], dim=1)  # (B, M + 1, C)
        pooled, weights = self.attention(self.probe.expand(tokens.shape[0], -1, -1), self.norm(keys))
        return pooled[:, 0], weights[:, :, 0]  # (B, C), (B, H, M + 1)
