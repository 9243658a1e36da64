"""The eager attention every model runs in Attention Lens, with a hook point for its scores.

transformers 5 routes attention through a registry of functions (``AttentionInterface``).
SDPA returns no weights and no implementation returns the pre-softmax scores, so models are
loaded with ``attn_implementation=LENS_ATTENTION``: plain eager attention which, while a
``recording`` context is active in the calling thread, hands its scores and weights to it.
Outside a recording it is ordinary eager attention and keeps nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import NamedTuple, Protocol

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

LENS_ATTENTION = "attention_lens"


class AttentionSink(Protocol):
    """Receives one attention call: the module, its scaled scores, mask and weights, and the vectors."""

    def record(
        self,
        module: nn.Module,
        scores: torch.Tensor,
        mask: torch.Tensor | None,
        weights: torch.Tensor,
        *,
        vectors: AttentionVectors | None = None,
    ) -> None: ...


class AttentionVectors(NamedTuple):
    """What one attention call multiplied: per-head queries, keys, values, its output and scale."""

    query: torch.Tensor  # (B, H, Tq, d), after any rotary embedding
    key: torch.Tensor  # (B, H_kv, Tk, d)
    value: torch.Tensor  # (B, H_kv, Tk, d)
    context: torch.Tensor  # (B, Tq, H, d): softmax(...) v, before the output projection
    scaling: float
    softcap: float | None = None


# One sink per thread/context: concurrent captures on a shared model never see each other.
active_sink: ContextVar[AttentionSink | None] = ContextVar("attention_lens_sink", default=None)


def lens_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention: softmax(q k^T * scaling + mask) v, recording scores and weights."""
    if kwargs.get("s_aux") is not None:
        raise NotImplementedError("attention sinks (s_aux) are not supported by Attention Lens yet")
    # query (B, H, Tq, d); key/value (B, H_kv, Tk, d): grouped-query heads share keys and values
    n_rep = query.shape[1] // key.shape[1]
    keys, values = key, value
    if n_rep > 1:
        keys = key.repeat_interleave(n_rep, dim=1)  # (B, H, Tk, d)
        values = value.repeat_interleave(n_rep, dim=1)
    if scaling is None:
        scaling = query.shape[-1] ** -0.5

    scores = torch.matmul(query, keys.transpose(-1, -2)) * scaling  # (B, H, Tq, Tk)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    logits = scores if attention_mask is None else scores + attention_mask
    weights = torch.softmax(logits, dim=-1, dtype=torch.float32).to(query.dtype)  # (B, H, Tq, Tk)
    weights_used = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights_used, values).transpose(1, 2).contiguous()  # (B, Tq, H, d)

    sink = active_sink.get()
    if sink is not None:
        sink.record(module, scores, attention_mask, weights,
                    vectors=AttentionVectors(query, key, value, output, float(scaling), softcap))
    return output, weights


AttentionInterface.register(LENS_ATTENTION, lens_attention)
AttentionMaskInterface.register(LENS_ATTENTION, eager_mask)
