"""models.text.comparison: tokens matched in order; differences taken between matched tokens only."""

from __future__ import annotations

import math

import torch

from models.engine.capture import capture_text
from models.engine.recording import ROW_BLOCK, LayerAttention
from models.text.comparison import head_shifts, map_difference, row_variation, token_alignment

TIRED = "The animal didn't cross the street because it was too tired."
WIDE = "The animal didn't cross the street because it was too wide."


def test_tokens_are_matched_in_order_around_an_insertion():
    a = ["[CLS]", "the", "cat", "sat", "[SEP]"]
    b = ["[CLS]", "the", "big", "cat", "sat", "[SEP]"]
    assert token_alignment(a, b) == [(0, 0), (1, 1), (2, 3), (3, 4), (4, 5)]


def test_the_difference_is_b_minus_a_between_matched_tokens_and_blank_elsewhere():
    a = torch.arange(9.0).reshape(1, 3, 3)
    b = torch.arange(16.0).reshape(1, 4, 4) * 10
    pairs = [(0, 0), (2, 3)]  # a's token 1 has no match
    difference = map_difference(a, b, pairs)
    assert difference[0, 0, 0] == 0 - 0 and difference[0, 0, 2] == b[0, 0, 3] - a[0, 0, 2]
    assert difference[0, 2, 2] == b[0, 3, 3] - a[0, 2, 2]
    assert torch.isnan(difference[0, 1]).all() and torch.isnan(difference[0, :, 1]).all()


def test_the_classic_pair_changes_only_the_last_word_and_some_heads_move(minilm):
    a, b = capture_text(minilm, TIRED), capture_text(minilm, WIDE)
    pairs = token_alignment(a.tokens, b.tokens)
    assert len(pairs) == a.seq_len - 1 and all(a.tokens[i] == b.tokens[j] for i, j in pairs)
    shifts = head_shifts(a, b, pairs)
    assert shifts.shape == (6, 12) and (shifts >= 0).all() and (shifts <= 1).all() and shifts.max() > 0
    same = head_shifts(a, a, token_alignment(a.tokens, a.tokens))
    assert (same == 0).all() and not math.isnan(float(same.sum()))


def _causal_layer(t: int, seed: int) -> LayerAttention:
    g = torch.Generator().manual_seed(seed)
    return LayerAttention("layer", None, None, torch.ones(t, t, dtype=torch.bool).tril(), scaling=0.4,
                          query=torch.randn(3, t, 8, generator=g), key=torch.randn(3, t, 8, generator=g),
                          value=torch.randn(3, t, 8, generator=g))


def test_a_long_layer_compared_block_by_block_gives_what_its_whole_maps_give():
    a, b = _causal_layer(ROW_BLOCK + 40, 1), _causal_layer(ROW_BLOCK + 90, 2)
    pairs = [(i, i + 50) for i in range(0, ROW_BLOCK + 40, 2)]  # every other token of a, matched later in b
    ia, ib = (torch.tensor(side) for side in zip(*pairs, strict=True))
    wa, wb = a.weights[:, ia[:, None], ia[None, :]], b.weights[:, ib[:, None], ib[None, :]]  # (H, n, n) whole
    torch.testing.assert_close(row_variation(a, b, pairs), 0.5 * (wb - wa).abs().sum(-1).mean(-1),
                               rtol=1e-5, atol=1e-6)
    c = _causal_layer(ROW_BLOCK + 40, 3)  # same length, every position: what ablation measures
    torch.testing.assert_close(row_variation(a, c), 0.5 * (c.weights - a.weights).abs().sum(-1).mean(-1),
                               rtol=1e-5, atol=1e-6)
    assert (row_variation(a, a) == 0).all() and row_variation(a, b, []).isnan().all()
