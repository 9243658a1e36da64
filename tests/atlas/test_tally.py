"""Shard tallies merge to what one pass over every reading gives: counts, means, deviations, top examples."""

from __future__ import annotations

import numpy as np

from models.atlas.reading import HIGHER_IS_MORE, MEASURES, PROBE_SHARD, Reading
from models.atlas.syntax import SyntaxCounts
from models.atlas.tally import merge, tally_shard


def _readings(shard: int, count: int, rng) -> list[Reading]:
    """Random readings of a 2-layer, 3-head model; probes measure only the repeat measures."""
    readings = []
    for i in range(count):
        values = rng.random((len(MEASURES), 2, 3))
        if shard == PROBE_SHARD:
            values[: MEASURES.index("duplicate_token")] = np.nan
        else:
            values[MEASURES.index("duplicate_token"):] = np.nan
        cells = rng.integers(0, 4, (len(MEASURES), 2, 3, 2))
        empty = SyntaxCounts.empty(2, 3)
        syntax = SyntaxCounts(rng.integers(0, 3, empty.correct.shape), rng.integers(0, 3, empty.total.shape),
                              rng.integers(0, 3, empty.baseline.shape))
        readings.append(Reading(shard, i, "" if shard == PROBE_SHARD else f"text {shard}-{i}",
                                ("a", "b", "c", "d"), values, cells, syntax))
    return readings


def test_merged_shards_equal_one_pass_over_all_readings():
    rng = np.random.default_rng(0)
    shards = [_readings(PROBE_SHARD, 4, rng), _readings(0, 7, rng), _readings(1, 5, rng)]
    merged = merge([tally_shard(s) for s in shards], k=3)
    values = np.stack([r.values for s in shards for r in s])  # (N, M, L, H)
    assert np.array_equal(merged.count, (~np.isnan(values)).sum(0))
    np.testing.assert_allclose(merged.mean, np.nanmean(values, 0), rtol=1e-12)
    np.testing.assert_allclose(merged.std, np.nanstd(values, 0), rtol=1e-9, atol=1e-12)
    assert merged.texts == 12 and merged.tokens == 48  # probes are not texts
    assert np.array_equal(merged.syntax.correct, sum(r.syntax.correct for s in shards for r in s))
    assert np.array_equal(merged.syntax.baseline, sum(r.syntax.baseline for s in shards for r in s))


def test_top_examples_are_the_strongest_texts_of_every_shard():
    rng = np.random.default_rng(1)
    shards = [_readings(0, 6, rng), _readings(1, 6, rng)]
    merged = merge([tally_shard(s, k=2) for s in shards], k=2)
    texts = [r for s in shards for r in s]
    for m, name in enumerate(MEASURES[: MEASURES.index("duplicate_token")]):
        sign = -1 if HIGHER_IS_MORE[name] else 1
        expected = sorted(texts, key=lambda r: sign * r.values[m, 1, 2])[:2]
        found = merged.examples[(m, 1, 2)]
        assert [e.text for e in found] == [r.text for r in expected]
        query, key = expected[0].cells[m, 1, 2]
        assert (found[0].query, found[0].key, found[0].query_token) == (query, key, "abcd"[query])
    assert not any(m >= MEASURES.index("duplicate_token") for m, _, _ in merged.examples)  # none from probes
