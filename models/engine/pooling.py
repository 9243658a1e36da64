"""Block means of attention maps: the thumbnails of the mosaic and the head grid, masked cells left out."""

from __future__ import annotations

import functools

import torch

from models.engine.recording import LayerAttention


@functools.lru_cache(maxsize=16)
def _blocks(n: int, size: int) -> torch.Tensor:
    """(blocks, n) float32: row b is 1 on the positions of block b of at most `size` near-equal blocks."""
    starts = torch.linspace(0, n, min(size, n) + 1).floor().long()
    positions = torch.arange(n)[None, :]
    return ((positions >= starts[:-1, None]) & (positions < starts[1:, None])).float()


def block_matrices(shape: tuple[int, int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """0/1 (blocks, Tq) and (blocks, Tk): rows @ map @ columns.T sums a (Tq, Tk) map over at most size x size
    blocks."""
    return _blocks(shape[0], size), _blocks(shape[1], size)


def block_average(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Block sums over allowed cells -> their means; NaN where a block has no allowed cell."""
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.nan)


@functools.lru_cache(maxsize=4)
def block_counts(mask: torch.Tensor | None, shape: tuple[int, int], size: int) -> torch.Tensor:
    """(≤size, ≤size): how many allowed cells each block of a (Tq, Tk) map holds; made once for the layers that
    share `mask` (the last few are kept). Read-only: callers share it."""
    rows, columns = block_matrices(shape, size)
    if mask is None:
        return rows.sum(1)[:, None] * columns.sum(1)[None, :]
    return rows @ mask.float() @ columns.T


def block_means(maps: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(..., Tq, Tk) maps, 0 where masked -> (..., ≤size, ≤size) means over each block's allowed cells (the
    blocks `counts` was made for); NaN where a block has none. Two BLAS products with 0/1 block matrices."""
    rows, columns = _blocks(maps.shape[-2], counts.shape[0]), _blocks(maps.shape[-1], counts.shape[1])
    return block_average(rows @ maps.float() @ columns.T, counts)


def thumbnails(layer: LayerAttention, size: int) -> torch.Tensor:
    """(H, ≤size, ≤size) block means of each head's weights, computed one head at a time."""
    counts = block_counts(layer.mask, layer.shape, size)
    return torch.stack([block_means(layer.head_weights(head), counts) for head in range(layer.num_heads)])
