"""Part 1, the token reducer: self-attention decides which of N backbone tokens survive as M.

Every token attends over all others with small query/key projections; a token's importance is the
attention it *receives* (summed over queries, averaged over heads). The M - 1 most-attended tokens are
kept as they are, and the rest are merged into one token, weighted by what each received, so nothing
is simply thrown away; the reducer learns through those merge weights. `kept` says which input
positions survived: the app draws them on the photo. No value or output projection over all N tokens:
that is what keeps the reducer cheap (N = 257 for DINOv2 at 224 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.head.attention import attention_weights, orthogonal_linear


@dataclass
class Reduced:
    tokens: torch.Tensor  # (B, M, C): M - 1 kept tokens (in input order), then the merged rest
    kept: torch.Tensor  # (B, M - 1) input positions of the kept tokens, ascending
    received: torch.Tensor  # (B, N) attention each input token received, averaged over heads


class TokenReducer(nn.Module):
    """(B, N, C) -> (B, M, C) by attention received; if M >= N all but one token are kept."""

    def __init__(self, dim: int, heads: int, keep: int, head_dim: int = 16):
        super().__init__()
        if keep < 2:
            raise ValueError("the reducer keeps at least one token and the merged rest")
        self.keep, self.heads = keep, heads
        self.norm = nn.LayerNorm(dim)
        self.query, self.key = orthogonal_linear(dim, heads * head_dim), orthogonal_linear(dim, heads * head_dim)

    def forward(self, tokens: torch.Tensor) -> Reduced:
        b, n, c = tokens.shape
        normed = self.norm(tokens)
        weights = attention_weights(self.query(normed), self.key(normed), self.heads)  # (B, H, N, N)
        received = weights.mean(1).sum(1)  # (B, N): column sums, averaged over heads
        keep = min(self.keep - 1, n - 1)
        kept = received.topk(keep, dim=-1).indices.sort(dim=-1).values  # (B, M - 1)
        dropped = torch.ones(b, n, dtype=torch.bool, device=tokens.device)
        dropped.scatter_(1, kept, False)
        share = (received * dropped).unsqueeze(-1)  # (B, N, 1): zero on kept tokens
        merged = (share * tokens).sum(1, keepdim=True) / share.sum(1, keepdim=True).clamp_min(1e-6)  # (B, 1, C)
        picked = tokens.gather(1, kept.unsqueeze(-1).expand(-1, -1, c))  # (B, M - 1, C)
        return Reduced(torch.cat([picked, merged.to(picked.dtype)], dim=1), kept, received)
