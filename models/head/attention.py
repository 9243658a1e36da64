"""Multi-head attention that hands back every head's weights; the one attention the head's parts share."""

from __future__ import annotations

import math

import torch
from torch import nn


def orthogonal_linear(dim_in: int, dim_out: int, bias: bool = True) -> nn.Linear:
    """A linear map whose weight starts orthogonal (rows or columns orthonormal) and whose bias starts at 0.

    Orthogonal maps keep the norms of what passes through them, so no layer starts by shrinking or
    blowing up its input: training converges faster (seed 000).
    """
    layer = nn.Linear(dim_in, dim_out, bias=bias)
    nn.init.orthogonal_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class HeadAttention(nn.Module):
    """Queries (B, Q, C) attend over tokens (B, N, C) with H heads; softmax in float32."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} does not split into {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.query, self.key, self.value, self.out = (orthogonal_linear(dim, dim) for _ in range(4))

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (output (B, Q, C), weights (B, H, Q, N)): every head's weights, for inspection."""
        b, q_len, c = queries.shape
        n = tokens.shape[1]
        q = self.query(queries).view(b, q_len, self.heads, self.head_dim).transpose(1, 2)  # (B, H, Q, d)
        k = self.key(tokens).view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, H, N, d)
        v = self.value(tokens).view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, H, N, d)
        scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, Q, N)
        weights = scores.softmax(dim=-1)  # float32 whatever the input dtype: no overflow in half precision
        context = (weights.to(v.dtype) @ v).transpose(1, 2).reshape(b, q_len, c)  # (B, Q, C)
        return self.out(context), weights
