"""How much memory a capture will hold, known before it runs, so a server can refuse what does not fit and say
what would: per layer the weights and scores (H, T, T), the queries and context (H, T, d), keys and values
(H_kv, T, d), all float32."""

from __future__ import annotations

import math

from transformers import PretrainedConfig

FLOAT32 = 4


def attention_shape(config: PretrainedConfig) -> tuple[int, int, int, int]:
    """(layers, heads, key/value heads, head width) of a model, read from its config."""
    config = getattr(config, "text_config", None) or getattr(config, "vision_config", None) or config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", None) or heads
    width = getattr(config, "head_dim", None) or config.hidden_size // heads
    return layers, heads, kv, width


def capture_bytes(config: PretrainedConfig, tokens: int) -> int:
    """Bytes a capture of `tokens` tokens will hold (within a few percent: token labels and masks aside)."""
    layers, heads, kv, width = attention_shape(config)
    per_layer = 2 * heads * tokens * tokens + (2 * heads + 2 * kv) * tokens * width
    return (layers * per_layer + tokens * config.hidden_size) * FLOAT32  # + the last hidden state


def tokens_that_fit(config: PretrainedConfig, budget_bytes: float) -> int:
    """The most tokens whose capture fits in `budget_bytes` (solves the quadratic above)."""
    layers, heads, kv, width = attention_shape(config)
    a, b = 2 * heads * layers * FLOAT32, ((2 * heads + 2 * kv) * width * layers + config.hidden_size) * FLOAT32
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
    return (f"This input is {tokens} tokens: its maps for {layers} layers × {heads} heads would take about "
            f"{needed / 2**20:,.0f} MB, over this server's {budget_mb:,.0f} MB per capture. "
            f"Up to {fits} tokens fit: shorten the text or lower the token limit.")
