"""Per-head summary numbers: how spread out a head is, how far it looks, and where its attention sinks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from models.engine.pooling import block_average, block_counts, block_matrices
from models.engine.recording import LayerAttention, row_blocks

MOSAIC_THUMB = 40  # cells a side of each head's thumbnail in the layers × heads mosaic


def sink_groups(tokens: Sequence[str], special: Sequence[bool] | None) -> dict[str, list[int]]:
    """Key positions worth a column of their own: the first token, then each kind of special token."""
    groups = {f"first token ({tokens[0]})": [0]}
    for position, (token, is_special) in enumerate(zip(tokens, special or (), strict=False)):
        if is_special and position > 0:
            groups.setdefault(token, []).append(position)
    return groups


@dataclass(frozen=True)
class HeadSummary:
    """One layer's heads in numbers and thumbnails, from one pass over its maps."""

    statistics: dict[str, torch.Tensor]  # name (with its unit) -> (H,)
    thumbnails: torch.Tensor | None  # (H, t, t) block means over the allowed cells, NaN where a block has none


def row_entropy(weights: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
    """(..., Tq) entropy in nats of each row of (..., Tq, Tk) weights. Given the finite logits they are the softmax
    of, as lse − Σ w·logits (lse read at the row's largest weight): no logarithm per cell, half the time."""
    if logits is None:
        return -torch.special.xlogy(weights, weights).sum(-1)
    peak = weights.amax(-1)
    lse = logits.amax(-1) - torch.log(peak)  # the largest weight sits where the largest logit does
    return torch.where(peak > 0, lse - torch.linalg.vecdot(weights, logits), 0.0)


def summarise_heads(layer: LayerAttention, groups: Mapping[str, Sequence[int]],
                    thumb: int | None = None) -> HeadSummary:
    """For each head of `layer`, averaged over query tokens, computing each head's map once, a block of rows at a
    time (a causal map's early rows stop at their last key: about half the work; memory stays at one block):

    - entropy: -sum_k w log2 w, in bits (0 = all on one key; log2(n) = spread evenly over n keys)
    - mean distance: sum_k w |q - k|, in tokens
    - share on each group of keys (attention sinks such as the first token, [CLS], [SEP]), and on all of them
    - with `thumb`, the map's block means at most thumb x thumb (the mosaic's tiles)
    """
    tq, tk = layer.shape
    offset = tk - tq  # queries are the last Tq positions when keys include a cache
    every = sorted({p for positions in groups.values() for p in positions})
    columns = {f"on {name}": list(positions) for name, positions in groups.items()}
    if len(groups) > 1:  # every sink together: what "hide sinks" removes from each row
        columns["on all sinks"] = every
    blocks = row_blocks(tq)
    distance = [(torch.arange(r.start, r.stop)[:, None] + offset - torch.arange(tk)[None, :]).abs().float()
                for r in blocks]  # (r, Tk) per block of rows, shared by the heads
    if thumb is not None:
        counts = block_counts(layer.mask, (tq, tk), thumb)
        block_rows, block_columns = block_matrices((tq, tk), thumb)
    statistics: dict[str, list[torch.Tensor]] = {}
    tiles = []
    for head in range(layer.num_heads):
        totals = dict.fromkeys(["entropy (bits)", "mean distance (tokens)", *columns], 0.0)
        sums = None if thumb is None else torch.zeros_like(counts)
        for rows, far in zip(blocks, distance, strict=True):
            w, logits = layer.head_rows(head, rows)  # (r, K): the keys past K are masked for these rows
            reach = w.shape[1]
            totals["entropy (bits)"] += row_entropy(w, logits).double().sum() / math.log(2)
            totals["mean distance (tokens)"] += torch.linalg.vecdot(w, far[:, :reach]).double().sum()
            for name, positions in columns.items():
                seen = [p for p in positions if p < reach]
                totals[name] += w[:, seen].sum().double() if seen else 0.0
            if sums is not None:
                sums += block_rows[:, rows] @ w @ block_columns[:, :reach].T
        for name, total in totals.items():
            statistics.setdefault(name, []).append(torch.as_tensor(total, dtype=torch.float64) / tq)
        if sums is not None:
            tiles.append(block_average(sums, counts))
    return HeadSummary({name: torch.stack(values).float() for name, values in statistics.items()},
                       torch.stack(tiles) if tiles else None)

