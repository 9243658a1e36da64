"""Each measure against a hand computation on small fixed maps (the numbers below were worked out on paper)."""

from __future__ import annotations

import numpy as np
import pytest

from models.atlas.measures import (
    duplicate_pattern,
    induction_pattern,
    is_punctuation,
    repeat_measures,
    text_measures,
)

# one layer, one head, four tokens "[CLS] a , b", causal
ROWS = np.array([
    [1.0, 0.0, 0.0, 0.0],
    [0.25, 0.75, 0.0, 0.0],
    [0.1, 0.6, 0.3, 0.0],
    [0.2, 0.1, 0.5, 0.2],
])
TOKENS = ("[CLS]", "a", ",", "b")
SPECIAL = (True, False, False, False)
BY_HAND = {
    "sink_share": (1 + 0.25 + 0.1 + 0.2) / 4,
    "special_share": (1 + 0.25 + 0.1 + 0.2) / 4,
    "punctuation_share": (0.3 + 0.5) / 4,
    "previous_token": (0.25 + 0.6 + 0.5) / 4,
    "current_token": (1 + 0.75 + 0.3 + 0.2) / 4,
    "next_token": 0.0,
    "mean_distance": (0.25 * 1 + (0.1 * 2 + 0.6 * 1) + (0.2 * 3 + 0.1 * 2 + 0.5 * 1)) / 4,
    # rows' entropies in bits: 0, 0.811278, 1.295462, 1.760964
    "entropy": (0 + 0.8112781 + 1.2954618 + 1.7609640) / 4,
}


@pytest.mark.parametrize("name", BY_HAND)
def test_text_measures_match_the_hand_computation(name):
    values, _ = text_measures(ROWS[None, None], SPECIAL, TOKENS)[name]
    assert values.shape == (1, 1) and values[0, 0] == pytest.approx(BY_HAND[name], abs=1e-6)


def test_the_cell_shown_for_a_measure_is_where_most_of_it_comes_from():
    measured = text_measures(ROWS[None, None], SPECIAL, TOKENS)
    assert measured["previous_token"][1][0, 0].tolist() == [2, 1]  # 0.6, the largest one-back weight
    assert measured["punctuation_share"][1][0, 0].tolist() == [3, 2]  # 0.5 on ","
    assert measured["entropy"][1][0, 0].tolist() == [0, 0]  # the most focused row, and its key


def test_shares_count_what_each_row_gives_when_a_sink_took_part_of_it():
    half = text_measures(0.5 * ROWS[None, None], SPECIAL, TOKENS)  # every row gave half to a sink
    assert half["previous_token"][0][0, 0] == pytest.approx(BY_HAND["previous_token"])
    assert half["entropy"][0][0, 0] == pytest.approx(BY_HAND["entropy"], abs=1e-6)  # rows renormalised


def test_heads_and_layers_are_measured_separately():
    weights = np.stack([np.stack([ROWS, np.eye(4)])] * 3)  # (3 layers, 2 heads, 4, 4)
    values, _ = text_measures(weights, SPECIAL, TOKENS)["current_token"]
    assert values.shape == (3, 2) and np.allclose(values[:, 1], 1.0) and np.allclose(values[:, 0], 0.5625)


def test_duplicate_and_induction_patterns_follow_transformerlens():
    ids = [1, 5, 6, 5, 6]  # [BOS] r r with r = [5, 6]
    assert np.argwhere(duplicate_pattern(ids)).tolist() == [[3, 1], [4, 2]]  # the earlier copy
    assert np.argwhere(induction_pattern(ids)).tolist() == [[3, 2], [4, 3]]  # the token after it


def test_repeat_measures_match_the_hand_computation():
    rows = np.zeros((5, 5))
    rows[0, 0] = 1
    rows[1, :2] = [0.5, 0.5]
    rows[2, :3] = [0.2, 0.3, 0.5]
    rows[3, :4] = [0.1, 0.2, 0.6, 0.1]
    rows[4] = [0.1, 0.1, 0.1, 0.6, 0.1]
    measured = repeat_measures(rows[None, None], [1, 5, 6, 5, 6])
    assert measured["duplicate_token"][0][0, 0] == pytest.approx((0.2 + 0.1) / 5)
    assert measured["induction"][0][0, 0] == pytest.approx((0.6 + 0.6) / 5)


@pytest.mark.parametrize(("token", "expected"), [
    (",", True), ("?!", True), ("##.", True), ("␣(", True), ("Ġ;", True), ("a", False), ("[CLS]", False),
    ("", False), ("3", False), ("é", False),
])
def test_punctuation_tokens(token, expected):
    assert is_punctuation(token) is expected
