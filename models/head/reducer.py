"""Part 1, the token reducer: self-attention decides which of N backbone tokens survive as M.

Every token attends over all others; a token's importance is the attention it *receives* (summed over
queries, averaged over heads). The M - 1 most-attended tokens are kept, updated by the attention
(residual), and the rest are merged into one token, weighted by what each received, so nothing is
simply thrown away. `kept` says which input positions survived: the app draws them on the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.head.attention import HeadAttention


@dataclass
class Reduced:
    tokens: torch.Tensor  # (B, M, C): M - 1 kept tokens (in input order), then the merged rest
    kept: torch.Tensor  # (B, M - 1) input positions of the kept tokens, ascending
    received: torch.Tensor  # (B, N) attention each input token received, averaged over heads


class TokenReducer(nn.Module):
    """(B, N, C) -> (B, M, C) by attention received; M = N is allowed (nothing merged but one token)."""

    def __init__(self, dim: int, heads: int, keep: int):
        super().__init__()
        if keep < 2:
            raise ValueError("the reducer keeps at least one token and the merged rest")
        self.keep = keep
        self.norm = nn.LayerNorm(dim)
        self.attention = HeadAttention(dim, heads)

    def forward(self, tokens: torch.Tensor) -> Reduced:
        b, n, c = tokens.shape
        normed = self.norm(tokens)
        update, weights = self.attention(normed, normed)  # (B, N, C), (B, H, N, N)
        updated = tokens + update
        received = weights.mean(1).sum(1)  # (B, N): column sums, averaged over heads
        keep = min(self.keep - 1, n - 1)
        kept = received.topk(keep, dim=-1).indices.sort(dim=-1).values  # (B, M - 1)
        dropped = torch.ones(b, n, dtype=torch.bool, device=tokens.device)
        dropped.scatter_(1, kept, False)
        share = (received * dropped).unsqueeze(-1)  # (B, N, 1): zero on kept tokens
        merged = (share * updated).sum(1, keepdim=True) / share.sum(1, keepdim=True).clamp_min(1e-6)  # (B, 1, C)
        picked = updated.gather(1, kept.unsqueeze(-1).expand(-1, -1, c))  # (B, M - 1, C)
        return Reduced(torch.cat([picked, merged.to(picked.dtype)], dim=1), kept, received)
