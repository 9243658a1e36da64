"""How much memory a capture takes, known before it runs, so a server can refuse what does not fit and say what
would. A capture holds, per layer, the queries and context (H, T, d), keys and values (H_kv, T, d), float32, and one
mask (T, T) bool; its maps are computed on demand, one layer at a time, so a view needs one layer's scores
(float32), softmax (float64) and weights (float32) besides: 16 bytes per cell of H × T × T."""

from __future__ import annotations

import math

from transformers import PretrainedConfig

FLOAT32 = 4
MAP_BYTES = 4 + 8 + 4  # per map cell while one layer's maps are computed: scores, softmax in float64, weights


def attention_shape(config: PretrainedConfig) -> tuple[int, int, int, int]:
    """(layers, heads, key/value heads, head width) of a model, read from its config."""
    config = getattr(config, "text_config", None) or getattr(config, "vision_config", None) or config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", None) or heads
    width = getattr(config, "head_dim", None) or config.hidden_size // heads
    return layers, heads, kv, width


def held_bytes(config: PretrainedConfig, tokens: int) -> int:
    """Bytes a capture of `tokens` tokens holds: its vectors, one mask and the last hidden state; linear in
    length but for the mask's one byte per pair."""
    layers, heads, kv, width = attention_shape(config)
    vectors = layers * (2 * heads + 2 * kv) * tokens * width * FLOAT32
    return vectors + tokens * config.hidden_size * FLOAT32 + tokens * tokens


def capture_bytes(config: PretrainedConfig, tokens: int) -> int:
    """Bytes a capture of `tokens` tokens takes while a view reads it: what it holds and one layer's maps."""
    _, heads, _, _ = attention_shape(config)
    return held_bytes(config, tokens) + heads * tokens * tokens * MAP_BYTES


def tokens_that_fit(config: PretrainedConfig, budget_bytes: float) -> int:
    """The most tokens whose capture fits in `budget_bytes` (solves the quadratic above)."""
    layers, heads, kv, width = attention_shape(config)
    a = 1 + heads * MAP_BYTES
    b = ((2 * heads + 2 * kv) * width * layers + config.hidden_size) * FLOAT32
    return max(0, int((-b + math.sqrt(b * b + 4 * a * budget_bytes)) / (2 * a)))


def budget_refusal(config: PretrainedConfig, tokens: int, budget_mb: float | None) -> str | None:
    """The sentence refusing a capture over `budget_mb` (naming the limit and what fits), or None."""
    if budget_mb is None:
        return None
    needed = capture_bytes(config, tokens)
    if needed <= budget_mb * 2**20:
        return None
    layers, heads, _, _ = attention_shape(config)
    fits = tokens_that_fit(config, budget_mb * 2**20)
    return (f"This input is {tokens} tokens: capturing it for {layers} layers × {heads} heads would take about "
            f"{needed / 2**20:,.0f} MB (its queries, keys and values, and one layer's maps at a time), over this "
            f"server's {budget_mb:,.0f} MB per capture. "
            f"Up to {fits} tokens fit: shorten the text or lower the token limit.")
