"""Two inputs side by side: their tokens aligned where they match, and the difference of their maps there.

"The animal didn't cross the street because it was too tired / wide": one word changes, and the heads that
resolve "it" move from "animal" to "street". Tokens are matched in order (difflib's longest matching runs), so
the difference is taken between the same words even when the two texts differ in length.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch

from models.engine.capture import AttentionCapture


def token_alignment(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """(position in a, position in b) of every token the two sequences share, in order."""
    matcher = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    return [(block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size)]


def map_difference(a: torch.Tensor, b: torch.Tensor, pairs: Sequence[tuple[int, int]]) -> torch.Tensor:
    """B − A on A's positions for maps a (..., Ta, Ta) and b (..., Tb, Tb); NaN where a query or key has no match."""
    difference = torch.full(a.shape, torch.nan)
    if pairs:
        ia, ib = (torch.tensor(side) for side in zip(*pairs, strict=True))
        difference[..., ia[:, None], ia[None, :]] = (b[..., ib[:, None], ib[None, :]]
                                                    - a[..., ia[:, None], ia[None, :]]).float()
    return difference


def head_shifts(a: AttentionCapture, b: AttentionCapture, pairs: Sequence[tuple[int, int]]) -> torch.Tensor:
    """(L, H): per head, the mean over matched queries of the total variation between their rows on matched keys;
    0 = the head attends the same way in both inputs."""
    if not pairs:
        return torch.full((a.num_layers, a.num_heads), torch.nan)
    ia, ib = (torch.tensor(side) for side in zip(*pairs, strict=True))
    return torch.stack([0.5 * (lb.weights[:, ib[:, None], ib[None, :]] - la.weights[:, ia[:, None], ia[None, :]])
                        .abs().sum(-1).mean(-1) for la, lb in zip(a.layers, b.layers, strict=True)])
