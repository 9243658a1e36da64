"""The syntax measure against hand computations: word pieces merged as Clark et al. did, a head's
most-attended other word checked against the parse, and the fixed-offset baseline."""

from __future__ import annotations

import numpy as np

from models.atlas.syntax import OFFSETS, RELATIONS, parse, parser, syntax_counts, word_attention, word_pieces


def test_relations_are_the_parsers_labels_less_root_punct_and_dep():
    assert set(RELATIONS) == set(parser().get_pipe("parser").labels) - {"ROOT", "punct", "dep"}


def test_pieces_belong_to_the_word_their_span_starts_in():
    # "[CLS] un ##like ##ly cat [SEP]" over the words "unlikely" (0-8) and "cat" (9-12)
    offsets = [(0, 0), (0, 2), (2, 6), (6, 8), (9, 12), (0, 0)]
    assert word_pieces(offsets, [(0, 8), (9, 12)]) == [[1, 2, 3], [4]]
    # byte-level BPE: "Ġcat" spans the space before "cat" too
    assert word_pieces([(0, 3), (3, 7), (7, 8)], [(0, 3), (4, 7), (7, 8)]) == [[0], [1], [2]]


def test_word_maps_sum_attention_to_a_word_and_average_it_from_a_word():
    weights = np.array([[[[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [0.0, 0.4, 0.6]]]])  # tokens t0, t1, t2
    words = word_attention(weights, [[0, 1], [2]])  # word A = t0 t1, word B = t2
    # from A: mean of rows t0, t1; to A: sum of columns t0, t1
    expected = np.array([[((0.2 + 0.3) + (0.6 + 0.1)) / 2, (0.5 + 0.3) / 2], [0.0 + 0.4, 0.6]])
    np.testing.assert_allclose(words[0, 0], expected)


def test_counts_follow_the_parse_and_the_offset_baseline():
    # three words, "dogs bark loudly": dogs -nsubj-> bark, loudly -advmod-> bark, bark is the root
    heads, relations = [1, 1, 1], ["nsubj", "ROOT", "advmod"]
    pieces = [[0], [1], [2]]
    weights = np.zeros((1, 2, 3, 3))
    weights[0, 0] = [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]  # head 0: dependents look at their head
    weights[0, 1] = [[0.2, 0.1, 0.7], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]]  # head 1: never
    counts = syntax_counts(weights, pieces, heads, relations)
    nsubj, advmod = RELATIONS.index("nsubj"), RELATIONS.index("advmod")
    assert counts.total[nsubj] == 1 and counts.total[advmod] == 1
    assert counts.correct[nsubj, 0, 0].tolist() == [1, 0] and counts.correct[advmod, 0, 0].tolist() == [1, 0]
    # head → dependent: bark's most-attended other word is dogs (0.7): right for nsubj, wrong for advmod
    assert counts.correct[nsubj, 1, 0, 0] == 1 and counts.correct[advmod, 1, 0, 0] == 0
    # baseline: nsubj's head is one word right (+1), advmod's one word left (-1)
    assert counts.baseline[nsubj, 0, OFFSETS.index(1)] == 1 and counts.baseline[advmod, 0, OFFSETS.index(-1)] == 1
    assert counts.baseline[nsubj, 0].sum() == 1


def test_a_parse_gives_character_spans_heads_and_relations():
    spans, heads, relations = parse("The dog barked loudly.")
    assert spans == [(0, 3), (4, 7), (8, 14), (15, 21), (21, 22)]
    assert relations == ["det", "nsubj", "ROOT", "advmod", "punct"] and heads == [1, 2, 2, 2, 2]
