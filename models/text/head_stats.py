"""Per-head summary numbers: how spread out a head is, how far it looks, and where its attention sinks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from models.engine.recording import LayerAttention


def sink_groups(tokens: Sequence[str], special: Sequence[bool] | None) -> dict[str, list[int]]:
    """Key positions worth a column of their own: the first token, then each kind of special token."""
    groups = {f"first token ({tokens[0]})": [0]}
    for position, (token, is_special) in enumerate(zip(tokens, special or (), strict=False)):
        if is_special and position > 0:
            groups.setdefault(token, []).append(position)
    return groups


def head_statistics(layer: LayerAttention, groups: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """For each head of `layer`, averaged over query tokens: (H,) per statistic, names with their units.

    - entropy: -sum_k w log2 w, in bits (0 = all on one key; log2(n) = spread evenly over n keys)
    - mean distance: sum_k w |q - k|, in tokens
    - share on each group of keys (attention sinks such as the first token, [CLS], [SEP]), and on all of them
    """
    tq, tk = layer.shape
    offset = tk - tq  # queries are the last Tq positions when keys include a cache
    distance = (torch.arange(tq)[:, None] + offset - torch.arange(tk)[None, :]).abs().float()  # (Tq, Tk)
    every = sorted({p for positions in groups.values() for p in positions})
    columns = {f"on {name}": list(positions) for name, positions in groups.items()}
    if len(groups) > 1:  # every sink together: what "hide sinks" removes from each row
        columns["on all sinks"] = every
    rows = []
    for head in range(layer.num_heads):  # one head's map at a time: memory stays at one (Tq, Tk)
        w = layer.head_weights(head)  # (Tq, Tk)
        row = {"entropy (bits)": -torch.special.xlogy(w, w).sum(-1).double().mean() / math.log(2),
               "mean distance (tokens)": (w * distance).sum(-1).double().mean()}
        row |= {name: w[:, positions].sum(-1).double().mean() for name, positions in columns.items()}
        rows.append(row)
    return {name: torch.stack([row[name] for row in rows]).float() for name in rows[0]}
