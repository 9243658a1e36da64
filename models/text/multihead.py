"""How a layer's heads combine: their average, the one-head equivalent, and how much they differ.

A layer with H heads of width d splits Q and K (width d_model = H*d) into H slices and runs H
softmaxes. One head over the full width would run a single softmax over Q K^T / sqrt(d_model).
Because Q K^T is the sum of the slices' products, that one-head map can be rebuilt from the
recorded per-head scores: sum_h (q_h.k_h / sqrt(d)) / sqrt(H) = Q K^T / sqrt(H*d).

Models that scale q.k by their own factor s instead of 1/sqrt(d) (GPT-2 with inverse layer scaling,
Gemma 2's query_pre_attn_scalar) keep it: the full-width head multiplies Q K^T by s / sqrt(H), which
is again sum_h scores_h / sqrt(H). Soft-capping and sinks cannot be written as one softmax of Q K^T;
`compare_heads` says so instead of printing an error that would look like a bug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.engine.cores import split_across_cores
from models.engine.precision import float32_tolerance
from models.engine.recording import LAYER_ROW_BLOCK, LayerAttention, masked_softmax, row_blocks


def head_average(weights: torch.Tensor) -> torch.Tensor:
    """(H, Tq, Tk) -> (Tq, Tk): the mean of the heads' maps (what many tools show as 'the' layer map)."""
    return weights.mean(dim=0)


def single_head_equivalent(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """softmax(sum_h scores_h / sqrt(H) + mask): this layer with one head over the full width.

    scores: (H, Tq, Tk), each q_h.k_h / sqrt(d) -> (Tq, Tk).
    """
    num_heads = scores.shape[0]
    return masked_softmax(scores.sum(dim=0) / num_heads**0.5, allowed)


def side_by_side(vectors: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(H|H_kv, T, d) per-head vectors -> (T, H*d), heads side by side as the model concatenates them (shared
    key/value heads repeated to the H query heads they serve)."""
    vectors = vectors.repeat_interleave(num_heads // vectors.shape[0], dim=0)  # (H, T, d)
    return vectors.transpose(0, 1).reshape(vectors.shape[1], -1)


def full_width_logits(q: torch.Tensor, k: torch.Tensor, num_heads: int, scaling: float,
                      bias: torch.Tensor | None = None) -> torch.Tensor:
    """Q K^T * s / sqrt(H) + sum_h bias_h / sqrt(H) from side-by-side queries (Tq, H*d) and keys (Tk, H*d)."""
    logits = q @ k.T * (scaling / num_heads**0.5)  # (Tq, Tk)
    if bias is not None:  # (H|1, Tq, Tk): per-head biases add up like the scores
        logits = logits + bias.expand(num_heads, -1, -1).sum(dim=0) / num_heads**0.5
    return logits


def full_width_attention(query: torch.Tensor, key: torch.Tensor, allowed: torch.Tensor | None,
                         scaling: float, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(Q K^T * s / sqrt(H) + sum_h bias_h / sqrt(H) + mask) from the concatenated queries and keys.

    With the usual s = 1/sqrt(d) that is softmax(Q K^T / sqrt(d_model) + mask).
    query: (H, Tq, d); key: (H_kv, Tk, d), repeated to H heads under grouped-query attention.
    """
    num_heads = query.shape[0]
    logits = full_width_logits(side_by_side(query, num_heads), side_by_side(key, num_heads), num_heads, scaling, bias)
    return masked_softmax(logits, allowed)


def not_one_softmax(layer: LayerAttention) -> str | None:
    """Why this layer's heads cannot be rewritten as one softmax over Q K^T, or None when they can."""
    if layer.softcap is not None:
        return (f"this layer soft-caps every head's scores (cap × tanh(score / cap), cap = {layer.softcap:g}): "
                "the capped scores of the heads do not add up to a capped Q Kᵀ")
    if layer.sink is not None:
        return ("every head of this layer has its own sink logit, an extra softmax column that is dropped "
                "afterwards: one full-width head would have one sink, not one per head")
    return None


def _divergence_sums(weights: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """(H, r, Tk) weights -> (H, H): pairwise Jensen-Shannon divergence of the heads' rows in bits, summed over
    the r rows (so blocks of rows add up). JS(p, q) = (Σ p ln p + Σ q ln q) / 2 − Σ m ln m with m = (p + q) / 2:
    one logarithm per cell and pair, each pair once."""
    p = weights.double()
    if allowed is not None:
        p = p * allowed
    own = torch.special.xlogy(p, p).sum(-1)  # (H, r): Σ p ln p of each head's rows
    num_heads = p.shape[0]
    out = torch.zeros(num_heads, num_heads, dtype=torch.float64)
    for i in range(num_heads - 1):  # head i against the later ones: (H - i - 1, r, Tk) at a time
        m = (p[i] + p[i + 1 :]) / 2
        js = (own[i] + own[i + 1 :]) / 2 - torch.special.xlogy(m, m).sum(-1)  # (H - i - 1, r), nats
        out[i, i + 1 :] = out[i + 1 :, i] = js.sum(-1) / math.log(2)
    return out  # (H, H)


def head_divergence(weights: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise Jensen-Shannon divergence between heads, in bits (0 = same map, 1 = disjoint).

    weights: (H, Tq, Tk) -> (H, H), the mean over query rows of JS(head_i row, head_j row).
    """
    return (_divergence_sums(weights, allowed) / weights.shape[-2]).clamp_min(0.0).float()


@dataclass(frozen=True)
class HeadComparison:
    """One layer seen as H heads, as their average, and as one full-width head."""

    average: torch.Tensor  # (Tq, Tk)
    equivalent: torch.Tensor  # (Tq, Tk) softmax(sum_h scores_h / sqrt(H) + mask)
    equivalence_error: float | None  # max |equivalent - full_width_attention|, when Q, K exist and it applies
    equivalence_tolerance: float | None  # float32 rounding allowed in that difference at this layer's magnitudes
    not_one_softmax: str | None  # why the heads cannot be one softmax of Q K^T (soft-capping, sinks), if so
    divergence: torch.Tensor  # (H, H) Jensen-Shannon, bits
    average_vs_equivalent: float  # mean JS divergence (bits) between the average map and the equivalent

    @property
    def mean_divergence(self) -> float:
        """Mean JS divergence over distinct pairs of heads (0 when there is one head)."""
        h = self.divergence.shape[0]
        return self.divergence.sum().item() / (h * (h - 1)) if h > 1 else 0.0


def compare_heads(layer: LayerAttention) -> HeadComparison:
    """Everything the single-head vs multi-head view shows for `layer`, walked by blocks of query rows: it holds
    one block of every head's scores, never the layer's (H, Tq, Tk)."""
    tq, tk = layer.shape
    num_heads = layer.num_heads
    reason = not_one_softmax(layer)
    check = layer.query is not None and reason is None
    average, equivalent = torch.zeros(tq, tk), torch.zeros(tq, tk)
    if check:  # the keys side by side, once for every block of rows; their magnitudes bound the rounding
        keys = side_by_side(layer.key, num_heads)  # (Tk, H*d)
        key_sizes = keys.abs()

    def walk(blocks: list[slice]) -> tuple[torch.Tensor, float, float, float]:
        """(Σ divergence sums, Σ average-vs-equivalent sums, largest error, largest logit size) over these blocks;
        each block's rows of the average and the equivalent are written in place."""
        divergence = torch.zeros(num_heads, num_heads, dtype=torch.float64)
        between, error, scale = 0.0, 0.0, 1.0
        for rows in blocks:
            allowed = layer.allowed_rows(rows)  # (r, Tk)
            scores = layer.head_scores(rows=rows)  # (H, r, Tk)
            weights = layer.softmax(scores, rows)
            average[rows], equivalent[rows] = head_average(weights), single_head_equivalent(scores, allowed)
            reach = layer.reach(rows)  # the keys past it have no weight in these rows
            divergence += _divergence_sums(weights[..., :reach], allowed[:, :reach])
            pair = torch.stack([average[rows, :reach], equivalent[rows, :reach]])
            between += _divergence_sums(pair, allowed[:, :reach])[0, 1].item()
            if check and bool(allowed.any()):
                bias = None if layer.bias is None else layer.bias[:, rows]
                queries = side_by_side(layer.query[:, rows], num_heads)  # (r, H*d)
                full = masked_softmax(full_width_logits(queries, keys, num_heads, layer.scaling, bias), allowed)
                error = max(error, (equivalent[rows] - full).abs().max().item())
                # Σ_h |q_h|·|k_h| · s/√H (+ |bias|): the magnitude the full-width logits' float32 rounding scales with
                sizes = full_width_logits(queries.abs(), key_sizes, num_heads, layer.scaling,
                                          None if bias is None else bias.abs())
                scale = max(scale, sizes[allowed].max().item())
        return divergence, between, error, scale

    parts = split_across_cores(walk, row_blocks(tq, LAYER_ROW_BLOCK))
    divergence, between = sum(part[0] for part in parts), sum(part[1] for part in parts)
    error, scale = max(part[2] for part in parts), max(part[3] for part in parts)
    return HeadComparison(
        average=average, equivalent=equivalent,
        equivalence_error=error if check else None,
        equivalence_tolerance=float32_tolerance(scale, num_heads * layer.query.shape[-1]) if check else None,
        not_one_softmax=reason,
        divergence=(divergence / tq).clamp_min(0.0).float(),
        average_vs_equivalent=max(between / tq, 0.0),
    )
