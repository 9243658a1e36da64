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

from dataclasses import dataclass

import torch

from models.engine.precision import float32_tolerance
from models.engine.recording import LayerAttention, masked_softmax


def head_average(weights: torch.Tensor) -> torch.Tensor:
    """(H, Tq, Tk) -> (Tq, Tk): the mean of the heads' maps (what many tools show as 'the' layer map)."""
    return weights.mean(dim=0)


def single_head_equivalent(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """softmax(sum_h scores_h / sqrt(H) + mask): this layer with one head over the full width.

    scores: (H, Tq, Tk), each q_h.k_h / sqrt(d) -> (Tq, Tk).
    """
    num_heads = scores.shape[0]
    return masked_softmax(scores.sum(dim=0) / num_heads**0.5, allowed)


def full_width_attention(query: torch.Tensor, key: torch.Tensor, allowed: torch.Tensor | None,
                         scaling: float, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(Q K^T * s / sqrt(H) + sum_h bias_h / sqrt(H) + mask) from the concatenated queries and keys.

    With the usual s = 1/sqrt(d) that is softmax(Q K^T / sqrt(d_model) + mask).
    query: (H, Tq, d); key: (H_kv, Tk, d), repeated to H heads under grouped-query attention.
    """
    num_heads, tq, d = query.shape
    key = key.repeat_interleave(num_heads // key.shape[0], dim=0)  # (H, Tk, d)
    q = query.transpose(0, 1).reshape(tq, num_heads * d)  # (Tq, d_model): heads side by side
    k = key.transpose(0, 1).reshape(key.shape[1], num_heads * d)  # (Tk, d_model)
    logits = q @ k.T * (scaling / num_heads**0.5)  # (Tq, Tk)
    if bias is not None:  # (H|1, Tq, Tk): per-head biases add up like the scores
        logits = logits + bias.expand(num_heads, -1, -1).sum(dim=0) / num_heads**0.5
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


def head_divergence(weights: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise Jensen-Shannon divergence between heads, in bits (0 = same map, 1 = disjoint).

    weights: (H, Tq, Tk) -> (H, H), the mean over query rows of JS(head_i row, head_j row).
    """
    p = weights.double()
    if allowed is not None:
        p = p * allowed
    logs = torch.where(p > 0, torch.log2(p), 0.0)  # (H, Tq, Tk), 0 log 0 = 0
    num_heads = p.shape[0]
    out = torch.zeros(num_heads, num_heads, dtype=torch.float64)
    for i in range(num_heads):  # one head against all: (H, Tq, Tk) at a time, not (H, H, Tq, Tk)
        m = (p[i] + p) / 2
        log_m = torch.where(m > 0, torch.log2(m), 0.0)
        kl_i = (p[i] * (logs[i] - log_m)).sum(-1)  # (H, Tq): KL(head i || m)
        kl_j = (p * (logs - log_m)).sum(-1)
        out[i] = ((kl_i + kl_j) / 2).mean(-1)
    return out.clamp_min(0.0).float()  # (H, H)


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
    """Everything the single-head vs multi-head view shows for `layer`."""
    allowed = layer.allowed
    average, equivalent = head_average(layer.weights), single_head_equivalent(layer.scores, allowed)
    error = tolerance = None
    reason = not_one_softmax(layer)
    if layer.query is not None and reason is None:
        full = full_width_attention(layer.query, layer.key, allowed, layer.scaling, layer.bias)
        error = (equivalent - full).abs().max().item()
        num_heads, _, d = layer.query.shape
        key = layer.key.repeat_interleave(num_heads // layer.key.shape[0], dim=0).abs()  # (H, Tk, d)
        terms = torch.matmul(layer.query.abs(), key.transpose(-1, -2)).sum(0) * layer.scaling / num_heads**0.5
        if layer.bias is not None:
            terms = terms + layer.bias.abs().expand(num_heads, -1, -1).sum(0) / num_heads**0.5
        tolerance = float32_tolerance(max(terms[allowed].max().item(), 1.0), num_heads * d)
    return HeadComparison(
        average=average, equivalent=equivalent, equivalence_error=error, equivalence_tolerance=tolerance,
        not_one_softmax=reason,
        divergence=head_divergence(layer.weights, allowed),
        average_vs_equivalent=head_divergence(torch.stack([average, equivalent]), allowed)[0, 1].item(),
    )
