"""models.text.head_stats: entropy, distance and sink shares on maps whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from models.engine.capture import capture_text
from models.engine.recording import LayerAttention
from models.text.head_stats import head_statistics, sink_groups


def _layer(weights: torch.Tensor) -> LayerAttention:
    return LayerAttention("layer", weights, weights.log(), None)


def test_uniform_head_has_log2_n_bits_and_a_first_token_sink_has_zero():
    n = 8
    uniform = torch.full((n, n), 1 / n)
    sink = torch.zeros(n, n)
    sink[:, 0] = 1.0
    stats = head_statistics(_layer(torch.stack([uniform, sink])), {"first": [0], "last two": [n - 2, n - 1]})
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
    stats = head_statistics(_layer(previous[None]), {})
    assert stats["mean distance (tokens)"].item() == pytest.approx((n - 1) / n)


def test_minilm_groups_name_cls_and_both_seps_of_a_pair(minilm):
    capture = capture_text(minilm, "A short one.", "And another.")
    groups = sink_groups(capture.tokens, capture.special)
    assert groups["first token ([CLS])"] == [0]
    assert groups["[SEP]"] == [i for i, t in enumerate(capture.tokens) if t == "[SEP]"] and len(groups["[SEP]"]) == 2
    stats = head_statistics(capture.layers[0], groups)
    assert all(v.shape == (12,) for v in stats.values())
    shares = stats["on first token ([CLS])"] + stats["on [SEP]"]
    assert (shares <= 1 + 1e-6).all() and (shares >= 0).all()
    torch.testing.assert_close(stats["on all sinks"], shares)  # disjoint groups: their sum
