"""How much memory a capture takes, known before it runs, so a server (or this machine) can refuse what does not
fit and say what would. A capture holds, per layer, the queries and context (H, T, d), keys and values
(H_kv, T, d), float32, each head's share of each key (H, T, the overview), and one mask (T, T) bool; its maps are
computed on demand, so a view holds a few (T, T) maps (a head's map, the additive mask, an average) and a block
of rows of every head per core besides, and the forward pass works with a few rows per token on top (`FORWARD_ROWS`).
Models that give only their weights keep every map: L × H × T × T float32."""

from __future__ import annotations

import math
import os

from transformers import PretrainedConfig

from models.engine.cores import cores
from models.engine.recording import LAYER_ROW_BLOCK

FLOAT32 = 4
VIEW_MAPS = 6  # (T, T) float32 maps a view holds at once: a head's map and its logits, the additive mask, the
# block counts' float mask, the head average and the one-head equivalent
ROW_BYTES = 4 * 8  # per cell of a block of every head's rows (H, LAYER_ROW_BLOCK, T): the scores and weights, and in
# float64 the weights, the mixtures of one head with the others and their x ln x (the heads' divergence)


FORWARD_ROWS = 16  # float32 rows of width hidden + intermediate per token that the forward pass works with beside
# what the capture keeps: the residual stream and its norm, the MLP's gate, up and product, the attention's
# projections before the capture keeps them, and the freed blocks the allocator holds on to. Fitted to peaks measured
# on this machine (VmHWM above the loaded model, fresh process per length): SmolLM2's capture with its overview at
# 512 / 2,048 / 4,096 / 8,192 tokens peaked at 148 / 631 / 1,375 / 3,022 MB, then its Maps view +17 / +40 / +128 /
# +576 MB over what stayed resident (136 / 567 / 1,206 / 2,605 MB): 165 / 671 / 1,503 / 3,598 MB in all against
# 173 / 767 / 1,733 / 4,266 MB estimated; MiniLM at 512 tokens 48 + 14 MB against 97 MB. (12 rows fall short at 512.)


def _attending(config: PretrainedConfig) -> PretrainedConfig:
    """The config of the stack whose attention is captured: a multimodal model's text or vision tower, else its own."""
    return getattr(config, "text_config", None) or getattr(config, "vision_config", None) or config


def attention_shape(config: PretrainedConfig) -> tuple[int, int, int, int]:
    """(layers, heads, key/value heads, head width) of a model, read from its config."""
    config = _attending(config)
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", None) or heads
    width = getattr(config, "head_dim", None) or config.hidden_size // heads
    return layers, heads, kv, width


def _widths(config: PretrainedConfig) -> tuple[int, int]:
    """(hidden width, MLP width) of the stack that attends, read from its config (4 × hidden when it states none)."""
    config = _attending(config)
    hidden = config.hidden_size
    return hidden, getattr(config, "intermediate_size", None) or 4 * hidden


def _terms(config: PretrainedConfig, stored_maps: bool) -> tuple[int, int, int, int]:
    """Bytes per T² and per T of what a capture holds, then per T² and per T of what is held only while it is made
    or read (the forward pass's rows, a view's maps and one block of every head's rows)."""
    layers, heads, kv, width = attention_shape(config)
    hidden, mlp = _widths(config)
    square = 1 + (layers * heads * FLOAT32 if stored_maps else 0)  # the mask, and every map when they are given
    # what computes the maps, when it can, and the overview's share of each key per head (models.engine.overview)
    vectors = 0 if stored_maps else layers * ((2 * heads + 2 * kv) * width + heads)
    linear = (vectors + hidden) * FLOAT32  # and the last hidden state
    blocks = heads * LAYER_ROW_BLOCK * ROW_BYTES * cores()  # each core walks its own block (models.engine.cores)
    working = FORWARD_ROWS * (hidden + mlp) * FLOAT32 + blocks
    return square, linear, VIEW_MAPS * FLOAT32, working


def held_bytes(config: PretrainedConfig, tokens: int, stored_maps: bool = False) -> int:
    """Bytes a capture of `tokens` tokens holds: its vectors, one mask and the last hidden state, linear in length
    but for the mask's one byte per pair; with `stored_maps` (weights-only models), every layer's maps instead of
    the vectors."""
    square, linear, _, _ = _terms(config, stored_maps)
    return square * tokens * tokens + linear * tokens


def capture_bytes(config: PretrainedConfig, tokens: int, stored_maps: bool = False) -> int:
    """Bytes a capture of `tokens` tokens takes at its peak: what it holds, the forward pass's working rows, and
    while a view reads it a few (T, T) maps and a block of every head's rows per core."""
    _, _, view, working = _terms(config, stored_maps)
    return held_bytes(config, tokens, stored_maps) + view * tokens * tokens + working * tokens


def tokens_that_fit(config: PretrainedConfig, budget_bytes: float, stored_maps: bool = False) -> int:
    """The most tokens whose capture fits in `budget_bytes` (solves the quadratic above)."""
    square, linear, view, working = _terms(config, stored_maps)
    a, b = square + view, linear + working
    return max(0, int((-b + math.sqrt(b * b + 4 * a * budget_bytes)) / (2 * a)))


def machine_budget_mb() -> float:
    """Half this machine's memory: what one capture may take when no server budget is set."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 / 2**20


def budget_refusal(config: PretrainedConfig, tokens: int, budget_mb: float | None, stored_maps: bool = False,
                   machine: bool = False) -> str | None:
    """The sentence refusing a capture over `budget_mb` (naming the limit, a server's or, with `machine`, half this
    machine's memory, and what fits), or None."""
    if budget_mb is None:
        return None
    needed = capture_bytes(config, tokens, stored_maps)
    if needed <= budget_mb * 2**20:
        return None
    layers, heads, _, _ = attention_shape(config)
    fits = tokens_that_fit(config, budget_mb * 2**20, stored_maps)
    held = "every layer's maps, as this model gives only those" if stored_maps else "its queries, keys and values"
    return (f"This input is {tokens} tokens: capturing it for {layers} layers × {heads} heads would take about "
            f"{needed / 2**20:,.0f} MB ({held}, the model's working memory while it runs, and the maps a view "
            f"computes), over "
            + (f"half this machine's memory ({budget_mb:,.0f} MB). " if machine
               else f"this server's {budget_mb:,.0f} MB per capture. ") +
            f"Up to {fits} tokens fit: shorten the text.")
