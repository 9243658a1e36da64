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
    """Receives one attention call: the module, its mask and the vectors that determine its maps."""

    fast: bool  # whether the call may run on SDPA, returning no weights (nothing asked for output_attentions)

    def plain_causal(self, mask: torch.Tensor | None, tq: int) -> bool: ...

    def attend(self, module: nn.Module, mask: torch.Tensor | None, query: torch.Tensor, key: torch.Tensor,
               value: torch.Tensor, scaling: float) -> torch.Tensor | None: ...

    def record(self, module: nn.Module, mask: torch.Tensor | None, *, vectors: AttentionVectors) -> None: ...


class AttentionVectors(NamedTuple):
    """What one attention call multiplied: per-head queries, keys, values, its output and scale."""

    query: torch.Tensor  # (B, H, Tq, d), after any rotary embedding
    key: torch.Tensor  # (B, H_kv, Tk, d)
    value: torch.Tensor  # (B, H_kv, Tk, d)
    context: torch.Tensor  # (B, Tq, H, d): softmax(...) v, before the output projection
    scaling: float
    softcap: float | None = None
    sink: torch.Tensor | None = None  # (H,) per-head sink logits (GPT-OSS): an extra column, dropped after softmax


# One sink per thread/context: concurrent captures on a shared model never see each other.
active_sink: ContextVar[AttentionSink | None] = ContextVar("attention_lens_sink", default=None)
# Heads to silence, per attention module: (B, H) multipliers of each head's output (0 = ablated), and whether an
# ablated head's output is replaced by its mean instead of 0 (see ablation.py).
active_ablation: ContextVar[dict[nn.Module, tuple[torch.Tensor, bool]] | None] = ContextVar(
    "attention_lens_ablation", default=None)


def pre_softmax(qk: torch.Tensor, scaling: float, softcap: float | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    """q.k -> the scores a softmax sees before the mask: scaled, soft-capped (Gemma 2), plus any bias."""
    scores = qk * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    return scores if bias is None else scores + bias


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
    """softmax(q k^T * scaling + mask) v, handing q, k, v and the mask to the active recording.

    Inside a fast recording the output comes from SDPA (the maps are computed later, on demand, from what was
    recorded) unless the model soft-caps its scores or has sinks, which SDPA cannot do. Otherwise eager, returning
    the weights, as output_attentions asks. With sinks (``s_aux``, GPT-OSS) each head's softmax has one more
    column, its sink logit, which is dropped afterwards: the weights of a row then sum to less than 1, as in the
    model's own code.
    """
    sink_logits = kwargs.get("s_aux")  # (H,) or None
    position_bias = kwargs.get("position_bias")  # T5: (1|B, H, Tq, Tk) relative positions, added like the mask
    if position_bias is not None:  # folded into the mask, the recording keeps it as the scores' additive bias
        attention_mask = position_bias if attention_mask is None else attention_mask + position_bias
    # query (B, H, Tq, d); key/value (B, H_kv, Tk, d): grouped-query heads share keys and values
    n_rep = query.shape[1] // key.shape[1]
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    recorder = active_sink.get()
    fast = (recorder is not None and recorder.fast and sink_logits is None and softcap is None
            and not (module.training and dropout > 0))
    if fast:  # (B, H, Tq, d) -> (B, Tq, H, d); no weights materialised
        weights = None
        # the recording's own pass over the maps when it wants one (its overview), which also gives the output
        output = recorder.attend(module, attention_mask, query, key, value, scaling)
        if output is None:
            # a mask that only hides the future is is_causal: the kernel then skips the upper triangle (half the work)
            causal = recorder.plain_causal(attention_mask, query.shape[2])
            output = nn.functional.scaled_dot_product_attention(
                query, key, value, attn_mask=None if causal else attention_mask, is_causal=causal, scale=scaling,
                enable_gqa=n_rep > 1).transpose(1, 2).contiguous()  # grouped heads read their shared keys in place
    else:
        keys, values = key, value
        if n_rep > 1:
            keys = key.repeat_interleave(n_rep, dim=1)  # (B, H, Tk, d)
            values = value.repeat_interleave(n_rep, dim=1)
        scores = pre_softmax(torch.matmul(query, keys.transpose(-1, -2)), scaling, softcap)  # (B, H, Tq, Tk)
        logits = scores if attention_mask is None else scores + attention_mask
        if sink_logits is None:
            weights = torch.softmax(logits, dim=-1, dtype=torch.float32).to(query.dtype)  # (B, H, Tq, Tk)
        else:  # as GPT-OSS's eager code: softmax over [logits, sink] after subtracting the row max
            sinks = sink_logits.reshape(1, -1, 1, 1).expand(*logits.shape[:-1], 1).to(logits.dtype)  # (B, H, Tq, 1)
            combined = torch.cat([logits, sinks], dim=-1)  # (B, H, Tq, Tk + 1)
            combined = combined - combined.max(dim=-1, keepdim=True).values
            weights = torch.softmax(combined, dim=-1, dtype=combined.dtype)[..., :-1].to(query.dtype)
        weights_used = nn.functional.dropout(weights, p=dropout, training=module.training)
        output = torch.matmul(weights_used, values).transpose(1, 2).contiguous()  # (B, Tq, H, d)
    ablation = active_ablation.get()
    if ablation is not None and module in ablation:  # silenced heads: 0 (or their mean) before the output projection
        keep, mean = ablation[module]
        keep = keep.to(output.dtype)[:, None, :, None]  # (B, 1, H, 1)
        fill = _visible_mean(output, attention_mask) if mean else None
        output = output * keep
        if fill is not None:
            output = output + (1 - keep) * fill

    if recorder is not None:
        recorder.record(module, attention_mask,
                        vectors=AttentionVectors(query, key, value, output, float(scaling), softcap, sink_logits))
    return output, weights


def _visible_mean(output: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Each position's mean of a head's outputs over the positions it may attend to (B, Tq, H, d): for a causal
    model itself and the earlier ones, so no later token leaks in."""
    if attention_mask is None:
        return output.mean(1, keepdim=True).expand_as(output)
    if attention_mask.shape[-1] != output.shape[1]:
        raise ValueError("mean-ablation needs the whole sequence in one pass, not a cached step")
    allowed = attention_mask[:, 0]  # (B, Tq, Tk)
    if allowed.dtype != torch.bool:
        allowed = allowed > torch.finfo(allowed.dtype).min / 2
    share = allowed.to(output.dtype)
    share = share / share.sum(-1, keepdim=True)
    return torch.einsum("bqk,bkhd->bqhd", share, output)


AttentionInterface.register(LENS_ATTENTION, lens_attention)
AttentionMaskInterface.register(LENS_ATTENTION, eager_mask)
