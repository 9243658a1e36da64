"""Every head of a layer in a few numbers and a thumbnail, from one pass over its maps: what the Maps view's
overview shows (the per-head table and the layers x heads mosaic).

The pass walks every head a block of rows at a time (never a T x T map). Run inside the capture's forward pass
(`capture_text(..., overview=True)`), the same weights also give the layer's output, so each map is computed once
instead of once by the attention kernel and again for the overview.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from models.engine import overview_kernel
from models.engine.cores import split_across_cores
from models.engine.pooling import block_average, block_counts, block_matrices
from models.engine.recording import LAYER_ROW_BLOCK, LayerAttention, row_blocks

OVERVIEW_THUMB = 40  # cells a side of each head's thumbnail in the layers x heads mosaic
SPLIT_IN_FORWARD = 1024  # queries from which the pass inside a forward is split across the cores. Below, the model's
# threads, still spinning after its last product, take more from the split than it gains (SmolLM2's capture with its
# overview, in turn with one core walking: 512 tokens 1.23 s split against 1.15 s; 1,024: 2.35 against 2.46 s)


@dataclass(frozen=True)
class LayerOverview:
    """One layer's heads, each averaged over its queries."""

    entropy: torch.Tensor  # (H,) bits: 0 = all on one key, log2(n) = spread evenly over n keys
    distance: torch.Tensor  # (H,) mean |query - key|, in tokens
    key_share: torch.Tensor  # (H, Tk) mean weight each key receives: a group of keys' share (a sink's) is a sum
    thumbnails: torch.Tensor | None  # (H, t, t) block means over the allowed cells, NaN where a block has none


def row_entropy(weights: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
    """(..., Tq) entropy in nats of each row of (..., Tq, Tk) weights. Given the finite logits they are the softmax
    of, as lse − Σ w·logits (lse read at the row's largest weight): no logarithm per cell, half the time."""
    if logits is None:
        return -torch.special.xlogy(weights, weights).sum(-1)
    peak = weights.amax(-1)
    lse = logits.amax(-1) - torch.log(peak)  # the largest weight sits where the largest logit does
    return torch.where(peak > 0, lse - (weights * logits).sum(-1), 0.0)  # (2.7x faster than linalg.vecdot here)


def layer_overview(layer: LayerAttention, thumb: int | None = OVERVIEW_THUMB, compiled: bool = True) -> LayerOverview:
    """Every head's overview (thumbnails at most thumb x thumb; None: none), each map computed once, by rows.
    compiled=False: torch's walk even where the compiled one runs (what the compiled walk is checked against)."""
    if not compiled:
        return _torch_walk(layer, thumb, attend=False)[0]
    return _walk(layer, thumb, attend=False)[0]


def attend_with_overview(layer: LayerAttention,
                         thumb: int | None = OVERVIEW_THUMB) -> tuple[LayerOverview, torch.Tensor]:
    """(the overview, the layer's output (Tq, H, d) = softmax(q kᵀ·s + mask) v) from the same weights: the
    attention of a forward pass and its overview in one walk."""
    return _walk(layer, thumb, attend=True)


def _walk(layer: LayerAttention, thumb: int | None, attend: bool) -> tuple[LayerOverview, torch.Tensor | None]:
    """One pass over every head's map: compiled where it can be (see overview_kernel), else in torch."""
    if overview_kernel.supports(layer) and overview_kernel.available():
        return _compiled_walk(layer, thumb, attend)
    return _torch_walk(layer, thumb, attend)


def _compiled_walk(layer: LayerAttention, thumb: int | None,
                   attend: bool) -> tuple[LayerOverview, torch.Tensor | None]:
    """The walk in C, each core its own heads: key shares and thumbnails from the weights summed per thumbnail row."""
    tq, tk = layer.shape
    row_bins = _row_bins(tq, thumb)
    entropy, distance, column_sums, context = overview_kernel.walk_layer(layer, row_bins, attend)
    thumbnail_sums = None if thumb is None else column_sums @ block_matrices((tq, tk), thumb)[1].T
    return _averaged(layer, thumb, entropy, distance, column_sums.sum(1), thumbnail_sums), context


def _averaged(layer: LayerAttention, thumb: int | None, entropy: torch.Tensor, distance: torch.Tensor,
              key_share: torch.Tensor, thumbnail_sums: torch.Tensor | None) -> LayerOverview:
    """Either walk's sums over every query (entropy in nats) -> the overview's means, entropy in bits."""
    tq, tk = layer.shape
    return LayerOverview(
        entropy=(entropy / (tq * math.log(2))).float(),
        distance=(distance / tq).float(),
        key_share=(key_share / tq).float(),
        thumbnails=None if thumb is None else block_average(thumbnail_sums, block_counts(layer.mask, (tq, tk), thumb)),
    )


@functools.lru_cache(maxsize=8)
def _row_bins(tq: int, thumb: int | None) -> torch.Tensor:
    """(Tq,) int32: the thumbnail row each query falls in (all 0 without thumbnails), made once per length."""
    if thumb is None:
        return torch.zeros(tq, dtype=torch.int32)
    return block_matrices((tq, tq), thumb)[0].argmax(0).to(torch.int32)


def _torch_walk(layer: LayerAttention, thumb: int | None,
                attend: bool) -> tuple[LayerOverview, torch.Tensor | None]:
    """One pass over every head's map, LAYER_ROW_BLOCK query rows at a time (a causal block stops at its last key);
    each core walks its own blocks with its own sums, added up in a fixed order."""
    tq, tk = layer.shape
    heads = layer.num_heads
    offset = tk - tq  # queries are the last Tq positions when keys include a cache
    if thumb is not None:
        counts = block_counts(layer.mask, (tq, tk), thumb)
        block_rows, block_columns = block_matrices((tq, tk), thumb)  # 0/1 (t, Tq), (t, Tk)
    context = torch.empty(tq, heads, layer.value.shape[-1]) if attend else None
    positions = torch.arange(tk, dtype=torch.float32)  # queries sit at rows + offset

    def walk(blocks: list[slice]) -> tuple[torch.Tensor, ...]:
        """(Σ entropy, Σ distance, Σ share per key, thumbnail sums or None) over these blocks of rows."""
        entropy, distance = torch.zeros(heads, dtype=torch.float64), torch.zeros(heads, dtype=torch.float64)
        key_share = torch.zeros(heads, tk, dtype=torch.float64)
        sums = None if thumb is None else torch.zeros(heads, *counts.shape)
        for rows in blocks:
            w, logits = layer.head_rows(slice(None), rows)  # (H, r, K): the keys past K are masked for these rows
            reach = w.shape[-1]
            entropy += row_entropy(w, logits).sum(-1, dtype=torch.float64)
            queries = positions[rows.start + offset : rows.stop + offset]
            far = (queries[:, None] - positions[None, :reach]).abs_()  # (r, K) |query - key|
            distance += (w.reshape(heads, -1) @ far.view(-1)).double()  # Σ w·|q - k| per head, one product
            if thumb is None:
                key_share[:, :reach] += w.sum(1)
            else:
                inside = block_rows[:, rows]  # (t, r)
                touched = inside.any(1)  # the few thumbnail rows this block of queries falls in
                by_block = inside[touched] @ w  # (H, b, K): each touched thumbnail row's queries summed
                key_share[:, :reach] += by_block.sum(1)
                sums[:, touched] += by_block @ block_columns[:, :reach].T  # (H, b, t)
            if context is not None:
                context[rows] = layer.weighted_values(w).transpose(0, 1)  # (r, H, d)
        return entropy, distance, key_share, sums

    blocks = row_blocks(tq, LAYER_ROW_BLOCK)
    parts = split_across_cores(walk, blocks) if not attend or tq >= SPLIT_IN_FORWARD else [walk(blocks)]
    entropy, distance, key_share = (sum(part[i] for part in parts) for i in range(3))
    thumbnail_sums = None if thumb is None else sum(part[3] for part in parts)
    return _averaged(layer, thumb, entropy, distance, key_share, thumbnail_sums), context
