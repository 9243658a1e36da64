"""Two inputs side by side: their tokens aligned where they match, and the difference of their maps there.

"The animal didn't cross the street because it was too tired / wide": one word changes, and the heads that
resolve "it" move from "animal" to "street". Tokens are matched in order (difflib's longest matching runs), so
the difference is taken between the same words even when the two texts differ in length.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from models.engine.capture import AttentionCapture
from models.engine.cores import split_across_cores
from models.engine.recording import LAYER_ROW_BLOCK, LayerAttention, row_blocks


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


def _columns(weights: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """weights (..., K) at `positions` of its last axis, 0 at those past K (a block of rows stops at its reach)."""
    picked = weights.index_select(-1, positions.clamp(max=weights.shape[-1] - 1))
    inside = positions < weights.shape[-1]
    return picked if bool(inside.all()) else picked * inside


def row_variation(a: LayerAttention, b: LayerAttention,
                  pairs: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
    """(H,): per head, the mean over queries of the total variation between the two layers' rows (0 = the same
    rows, 1 = disjoint), on the matched queries and keys of `pairs`, or on every position when the two maps are of
    one input. Walked by blocks of rows: never a whole layer's (H, T, T)."""
    if pairs is not None and not pairs:
        return torch.full((a.num_heads,), torch.nan)
    ia, ib = (torch.tensor(side) for side in zip(*pairs, strict=True)) if pairs else (None, None)
    count = a.shape[0] if pairs is None else len(ia)

    def variation(blocks: list[slice]) -> torch.Tensor:
        """(H,) float64: Σ over these blocks' rows of the total variation."""
        total = torch.zeros(a.num_heads, dtype=torch.float64)
        for block in blocks:
            if pairs is None:  # one input: the same keys, up to the last these rows reach (a causal map's early rows)
                rows_a, rows_b = a.head_rows(slice(None), block)[0], b.head_rows(slice(None), block)[0]  # (H, r, K)
                keys = max(rows_a.shape[-1], rows_b.shape[-1])
                rows_a, rows_b = (F.pad(w, (0, keys - w.shape[-1])) for w in (rows_a, rows_b))
            else:  # matched queries; matched keys up to the last either side's rows reach (pairs are in order)
                rows_a, rows_b = a.head_rows(slice(None), ia[block])[0], b.head_rows(slice(None), ib[block])[0]
                keys = max(int(torch.searchsorted(ia, rows_a.shape[-1])),
                           int(torch.searchsorted(ib, rows_b.shape[-1])))
                rows_a, rows_b = _columns(rows_a, ia[:keys]), _columns(rows_b, ib[:keys])  # (H, r, matched keys)
            total += 0.5 * (rows_b - rows_a).abs().sum(-1).double().sum(-1)
        return total

    total = sum(split_across_cores(variation, row_blocks(count, LAYER_ROW_BLOCK)))
    return (total / count).float()


def layer_variations(a: Sequence[LayerAttention], b: Sequence[LayerAttention],
                     pairs: Sequence[tuple[int, int]] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """(L, H): `row_variation` of every layer pair, reporting `progress(layers done, layers)` after each."""
    rows = []
    for la, lb in zip(a, b, strict=True):
        rows.append(row_variation(la, lb, pairs))
        if progress is not None:
            progress(len(rows), len(a))
    return torch.stack(rows)


def head_shifts(a: AttentionCapture, b: AttentionCapture, pairs: Sequence[tuple[int, int]],
                progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """(L, H): per head, the mean over matched queries of the total variation between their rows on matched keys;
    0 = the head attends the same way in both inputs."""
    return layer_variations(a.layers, b.layers, pairs, progress)
