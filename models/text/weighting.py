"""What a map shows: the attention weights α as they are, α weighted by how much each key's value writes
(Kobayashi et al. 2020, "Attention is Not Only a Weight"), and either with the attention sinks hidden.

A head can put most of its weight on a token whose value is nearly zero (a sink): α says "looks there",
α·‖v_j W_O^h‖ says how much of the head's output actually comes from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from models.engine.recording import LayerAttention
from models.text.head_stats import sink_groups
from models.text.walkthrough import output_projection

Weighting = Literal["attention", "value-norm"]
WEIGHTINGS: dict[Weighting, str] = {"attention": "α", "value-norm": "α·‖v W_O‖"}


class WeightingUnavailable(ValueError):
    """The model does not expose what a weighting needs; the message says what, for the user."""


@dataclass(frozen=True)
class MapStyle:
    """How every map on a page is drawn: which weighting, and whether sink columns are hidden."""

    weighting: Weighting = "attention"
    hide_sinks: bool = False

    @property
    def plain(self) -> bool:
        return self == MapStyle()


def head_output_weights(model: nn.Module, layer: LayerAttention) -> torch.Tensor:
    """W_O split by head: (H, d, C), so head h writes context_h @ W_O[h] into the residual stream."""
    if layer.value is None:
        raise WeightingUnavailable(f"{layer.name} returned only its attention weights, not its values")
    found = output_projection(model, layer.name)
    if found is None:
        raise WeightingUnavailable(f"no output projection W_O was found next to {layer.name}")
    module = found[1]
    weight = module.weight.detach().float().cpu()
    weight = weight.T if isinstance(module, nn.Linear) else weight  # (H*d, C); GPT-2's Conv1D stores it so
    return weight.reshape(layer.num_heads, layer.value.shape[-1], -1)


def value_norms(model: nn.Module, layer: LayerAttention) -> torch.Tensor:
    """‖v_j^h W_O^h‖ for every head h and key j, (H, Tk): how large what key j would write through head h is."""
    w_o = head_output_weights(model, layer)  # (H, d, C)
    heads = w_o.shape[0]
    value = layer.value.float().repeat_interleave(heads // layer.value.shape[0], dim=0)  # (H, Tk, d)
    return torch.linalg.vector_norm(value @ w_o, dim=-1)  # (H, Tk, C) -> (H, Tk)


def hide_sinks(maps: torch.Tensor, sinks: Sequence[int]) -> torch.Tensor:
    """maps (H, Tq, Tk) with the sink columns set to 0 and each row renormalised over the other keys; a row with
    nothing left (it attended only sinks, like a causal model's first token) becomes NaN: nothing to show."""
    shown = maps.clone()
    shown[..., list(sinks)] = 0.0
    total = shown.sum(-1, keepdim=True)  # (H, Tq, 1)
    return torch.where(total > 0, shown / total, torch.nan)


def styled_maps(model: nn.Module, layer: LayerAttention, style: MapStyle, sinks: Sequence[int],
                head: int | slice = slice(None), norms: torch.Tensor | None = None,
                rows: slice = slice(None)) -> torch.Tensor:
    """The maps of `head` as `style` draws them: (H, Tq, Tk) for every head, (Tq, Tk) for one; (…, r, Tk) for
    some rows. norms: the layer's `value_norms`, when the caller has them already (they do not depend on the
    head)."""
    maps = layer.head_weights(head, rows).float()
    if style.weighting == "value-norm":
        norms = value_norms(model, layer) if norms is None else norms  # (H, Tk)
        maps = maps * norms[head][..., None, :]  # α_ij ‖v_j W_O‖
    return hide_sinks(maps, sinks) if style.hide_sinks else maps


def sink_positions(tokens: Sequence[str], special: Sequence[bool] | None) -> list[int]:
    """Positions of the attention sinks: the first token and every special token (BOS, [CLS], [SEP], ...)."""
    return sorted({position for group in sink_groups(tokens, special).values() for position in group})
