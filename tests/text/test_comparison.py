"""models.text.comparison: tokens matched in order; differences taken between matched tokens only."""

from __future__ import annotations

import math

import torch

from models.engine.capture import capture_text
from models.text.comparison import head_shifts, map_difference, token_alignment

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
