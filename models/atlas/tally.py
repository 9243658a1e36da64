"""Streaming reduction of readings: per shard, each head's count, sum and sum of squares per measure (running
means and variances) and its top-k examples; shards merge exactly, in shard order, whatever ran them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.atlas.reading import HIGHER_IS_MORE, MEASURES, PROBE_SHARD, Reading
from models.atlas.syntax import SyntaxCounts

TOP_K = 5


@dataclass
class Example:
    """One of a head's top inputs for one measure, with the cell that shows it."""

    value: float
    shard: int
    index: int
    text: str
    query: int
    key: int
    query_token: str
    key_token: str

    def order(self, higher_is_more: bool) -> tuple:
        """Sort key: the strongest first, then the earliest input (ties break the same way on every run)."""
        return (-self.value if higher_is_more else self.value, self.shard, self.index)


@dataclass
class Tally:
    """Per (measure, layer, head): inputs counted, Σ value, Σ value², and the top-k examples."""

    count: np.ndarray  # (M, L, H) int64
    total: np.ndarray  # (M, L, H) float64
    total_sq: np.ndarray  # (M, L, H) float64
    examples: dict[tuple[int, int, int], list[Example]]  # (m, l, h) -> best first
    texts: int
    tokens: int
    syntax: SyntaxCounts

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.total / self.count

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation over the inputs (0 for a single one)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.maximum(self.total_sq / self.count - self.mean**2, 0.0))


def _top(examples: list[Example], measure: str, k: int) -> list[Example]:
    return sorted(examples, key=lambda e: e.order(HIGHER_IS_MORE[measure]))[:k]


def tally_shard(readings: Sequence[Reading], k: int = TOP_K) -> Tally:
    """Reduce one shard's readings (in input order)."""
    values = np.stack([r.values for r in readings])  # (N, M, L, H)
    seen = ~np.isnan(values)
    zeroed = np.where(seen, values, 0.0)
    examples: dict[tuple[int, int, int], list[Example]] = {}
    probes = readings[0].shard == PROBE_SHARD  # random tokens make no examples worth reading
    for m, name in enumerate(MEASURES):
        if probes or not seen[:, m].any():
            continue
        strength = values[:, m] if HIGHER_IS_MORE[name] else -values[:, m]  # (N, L, H), larger = stronger
        order = np.argsort(-np.where(seen[:, m], strength, -np.inf), axis=0, kind="stable")[:k]  # ties: input order
        for (layer, head), _ in np.ndenumerate(order[0]):
            found = []
            for i in order[:, layer, head]:
                if not seen[i, m, layer, head]:
                    break
                r = readings[i]
                query, key = (int(x) for x in r.cells[m, layer, head])
                found.append(Example(float(r.values[m, layer, head]), r.shard, r.index, r.text, query, key,
                                     r.tokens[query], r.tokens[key]))
            examples[(m, layer, head)] = found
    return Tally(seen.sum(0), zeroed.sum(0), (zeroed**2).sum(0), examples,
                 0 if probes else len(readings), 0 if probes else sum(len(r.tokens) for r in readings),
                 sum((r.syntax for r in readings[1:]), readings[0].syntax))


def merge(tallies: Sequence[Tally], k: int = TOP_K) -> Tally:
    """One tally from several (given in shard order): sums added, top-k re-chosen."""
    examples: dict[tuple[int, int, int], list[Example]] = {}
    for tally in tallies:
        for cell, found in tally.examples.items():
            examples.setdefault(cell, []).extend(found)
    return Tally(
        sum(t.count for t in tallies), sum(t.total for t in tallies), sum(t.total_sq for t in tallies),
        {cell: _top(found, MEASURES[cell[0]], k) for cell, found in examples.items()},
        sum(t.texts for t in tallies), sum(t.tokens for t in tallies),
        sum((t.syntax for t in tallies[1:]), tallies[0].syntax),
    )
