"""Per-head summary numbers: how spread out a head is, how far it looks, and where its attention sinks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from models.engine.overview import OVERVIEW_THUMB, LayerOverview, layer_overview
from models.engine.recording import LayerAttention

MOSAIC_THUMB = OVERVIEW_THUMB  # cells a side of each head's thumbnail in the layers × heads mosaic


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


def head_summary(overview: LayerOverview, groups: Mapping[str, Sequence[int]]) -> HeadSummary:
    """A layer's overview as the per-head table: entropy (bits), mean distance (tokens) and the share on each group
    of keys (attention sinks such as the first token, [CLS], [SEP]) and, with more than one group, on all of them."""
    columns = {f"on {name}": list(positions) for name, positions in groups.items()}
    if len(groups) > 1:  # every sink together: what "hide sinks" removes from each row
        columns["on all sinks"] = sorted({p for positions in groups.values() for p in positions})
    statistics = {"entropy (bits)": overview.entropy, "mean distance (tokens)": overview.distance}
    for name, positions in columns.items():
        statistics[name] = overview.key_share[:, positions].sum(-1)
    return HeadSummary(statistics, overview.thumbnails)


def summarise_heads(layer: LayerAttention, groups: Mapping[str, Sequence[int]],
                    thumb: int | None = None) -> HeadSummary:
    """The per-head table of `layer` (and, with `thumb`, its heads' thumbnails), each map computed once, by rows."""
    return head_summary(layer_overview(layer, thumb), groups)
