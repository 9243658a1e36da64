"""models.text.head_stats: entropy, distance and sink shares on maps whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from models.engine.capture import capture_text
from models.engine.pooling import thumbnails
from models.engine.recording import ROW_BLOCK, LayerAttention
from models.text.head_stats import sink_groups, summarise_heads
from tests.tolerance import assert_close32


def _layer(weights: torch.Tensor) -> LayerAttention:
    return LayerAttention("layer", weights, weights.log(), None)


def test_uniform_head_has_log2_n_bits_and_a_first_token_sink_has_zero():
    n = 8
    uniform = torch.full((n, n), 1 / n)
    sink = torch.zeros(n, n)
    sink[:, 0] = 1.0
    stats = summarise_heads(_layer(torch.stack([uniform, sink])), {"first": [0], "last two": [n - 2, n - 1]}).statistics
    assert stats["entropy (bits)"].tolist() == pytest.approx([math.log2(n), 0.0])
    assert stats["on first"].tolist() == pytest.approx([1 / n, 1.0])
    assert stats["on last two"].tolist() == pytest.approx([2 / n, 0.0])
    assert stats["on all sinks"].tolist() == pytest.approx([3 / n, 1.0])  # the three positions together
    # the sink head looks back i tokens from query i: mean (0 + 1 + ... + 7) / 8
    assert stats["mean distance (tokens)"][1].item() == pytest.approx(sum(range(n)) / n)


def test_previous_token_head_looks_one_token_away():
    n = 6
    previous = torch.zeros(n, n)
    previous[0, 0] = 1.0
    previous[torch.arange(1, n), torch.arange(n - 1)] = 1.0
    stats = summarise_heads(_layer(previous[None]), {}).statistics
    assert stats["mean distance (tokens)"].item() == pytest.approx((n - 1) / n)


def test_minilm_groups_name_cls_and_both_seps_of_a_pair(minilm):
    capture = capture_text(minilm, "A short one.", "And another.")
    groups = sink_groups(capture.tokens, capture.special)
    assert groups["first token ([CLS])"] == [0]
    assert groups["[SEP]"] == [i for i, t in enumerate(capture.tokens) if t == "[SEP]"] and len(groups["[SEP]"]) == 2
    stats = summarise_heads(capture.layers[0], groups).statistics
    assert all(v.shape == (12,) for v in stats.values())
    shares = stats["on first token ([CLS])"] + stats["on [SEP]"]
    assert (shares <= 1 + 1e-6).all() and (shares >= 0).all()
    torch.testing.assert_close(stats["on all sinks"], shares)  # disjoint groups: their sum


def test_one_pass_gives_the_entropy_of_every_row_and_the_mosaic_tiles(minilm):
    capture = capture_text(minilm, "The entropy of each head, read without a logarithm per cell. " * 6)
    layer = capture.layers[3]
    summary = summarise_heads(layer, {"first": [0]}, thumb=16)
    weights = layer.weights.double()  # (H, T, T), the plain definition in float64
    entropy = -torch.special.xlogy(weights, weights).sum(-1).mean(-1) / math.log(2)
    # lse − Σ w·logits: rounding of logits of this size, summed over every key
    assert_close32(summary.statistics["entropy (bits)"], entropy.float(), scale=layer.scores.abs().max().item(),
                   terms=capture.seq_len)
    torch.testing.assert_close(summary.thumbnails, thumbnails(layer, 16))


def test_a_long_causal_map_walked_by_rows_gives_what_its_whole_map_gives():
    g = torch.Generator().manual_seed(3)
    t, heads = 2 * ROW_BLOCK + 37, 2  # three blocks of rows, the last one short
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    mask[:, :5] = False  # padding at the start: the first five rows attend nothing
    layer = LayerAttention("layer", None, None, mask, scaling=0.3, query=torch.randn(heads, t, 8, generator=g),
                           key=torch.randn(heads, t, 8, generator=g), value=torch.randn(heads, t, 8, generator=g))
    summary = summarise_heads(layer, {"first": [0], "tenth": [9]}, thumb=40)
    w = layer.weights.double()  # (H, T, T) whole, the plain definitions
    distance = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).abs().double()
    expected = {"entropy (bits)": -torch.special.xlogy(w, w).sum(-1).mean(-1) / math.log(2),
                "mean distance (tokens)": (w * distance).sum(-1).mean(-1),
                "on first": w[..., 0].mean(-1), "on tenth": w[..., 9].mean(-1),
                "on all sinks": w[..., [0, 9]].sum(-1).mean(-1)}
    for name, values in expected.items():
        torch.testing.assert_close(summary.statistics[name].double(), values, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(summary.thumbnails, thumbnails(layer, 40), equal_nan=True, rtol=1e-4, atol=1e-6)
