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


def attention_weights(queries: torch.Tensor, keys: torch.Tensor, heads: int) -> torch.Tensor:
    """Softmax(q k^T / sqrt(d)) per head for projected queries (B, Q, H*d) and keys (B, N, H*d): (B, H, Q, N).

    Computed in float32 whatever the input dtype: no overflow in half precision.
    """
    b, q_len, width = queries.shape
    d = width // heads
    q = queries.float().view(b, q_len, heads, d).transpose(1, 2) / math.sqrt(d)  # (B, H, Q, d), scaled here:
    k = keys.float().view(b, keys.shape[1], heads, d).transpose(1, 2)  # (B, H, N, d)   Q*d divisions, not Q*N
    return (q @ k.transpose(-1, -2)).softmax(dim=-1)  # (B, H, Q, N)


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
        weights = attention_weights(self.query(queries), self.key(tokens), self.heads)  # (B, H, Q, N)
        v = self.value(tokens).view(b, -1, self.heads, self.head_dim).transpose(1, 2)  # (B, H, N, d)
        context = (weights.to(v.dtype) @ v).transpose(1, 2).reshape(b, q_len, c)  # (B, Q, C)
        return self.out(context), weights
