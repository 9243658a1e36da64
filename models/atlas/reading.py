"""One atlas input read by the model: a corpus text, or a probe of random tokens repeated twice, reduced at once
to per-head measures (no T×T map leaves this function)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from models.atlas.importance import head_importance, importance_kind
from models.atlas.measures import REPEAT_MEASURES, TEXT_MEASURES, repeat_measures, text_measures
from models.atlas.syntax import SyntaxCounts, parse, syntax_counts, word_pieces
from models.engine.capture import capture_encoded
from models.engine.loading import LoadedModel

# measures taken on corpus texts (each with top examples), then those taken on the random-token probes
EXAMPLE_MEASURES: tuple[str, ...] = (*TEXT_MEASURES, "importance")
MEASURES: tuple[str, ...] = (*EXAMPLE_MEASURES, *REPEAT_MEASURES)
HIGHER_IS_MORE: dict[str, bool] = {**TEXT_MEASURES, "importance": True, **REPEAT_MEASURES}
PROBE_SHARD = -1  # the shard of repeated random-token probes
PROBE_LENGTH = 40  # random tokens, repeated once: 2 × 40 plus the tokenizer's own special tokens


@dataclass(frozen=True)
class Item:
    """One input of an atlas: `text` from the corpus, or (shard PROBE_SHARD) the probe drawn from seed `index`;
    `importance`: also silence each head in turn (L forward passes of H items: kept for the first texts)."""

    shard: int
    index: int
    text: str = ""
    importance: bool = False


@dataclass(frozen=True)
class Reading:
    """What one input leaves behind: per-head values (M, L, H) (NaN for measures not taken on this kind of
    input), the cells that show them (M, L, H, 2) [query, key], and the input's tokens."""

    shard: int
    index: int
    text: str
    tokens: tuple[str, ...]
    values: np.ndarray
    cells: np.ndarray
    syntax: SyntaxCounts  # all zero for probes and for tokenizers that give no character offsets


def probe_ids(loaded: LoadedModel, seed: int, length: int = PROBE_LENGTH) -> list[int]:
    """Random ordinary tokens repeated twice, wrapped in the tokenizer's special tokens (TransformerLens's
    detector prepends BOS; a BERT tokenizer adds [CLS] ... [SEP])."""
    tokenizer = loaded.processor
    drawn = np.random.default_rng(seed).choice(_ordinary_ids(tokenizer), size=length, replace=False).tolist()
    before, after = _special_wrap(tokenizer)
    return [*before, *drawn, *drawn, *after]


@functools.lru_cache(maxsize=4)
def _ordinary_ids(tokenizer) -> np.ndarray:
    """Every id of the vocabulary that is not a special token (built once per tokenizer, not per probe)."""
    special = set(tokenizer.all_special_ids)
    return np.array([i for i in range(len(tokenizer)) if i not in special])


def _special_wrap(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text's own ids (e.g. [CLS] ... [SEP])."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    wrapped = tokenizer("x")["input_ids"]
    start = next(i for i in range(len(wrapped)) if wrapped[i:i + len(plain)] == plain)
    return wrapped[:start], wrapped[start + len(plain):]


def read_item(loaded: LoadedModel, item: Item, max_tokens: int) -> Reading:
    """Run the model on one input and keep only its per-head measures."""
    offsets = None
    if item.shard == PROBE_SHARD:
        ids = probe_ids(loaded, item.index)
        encoded = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    else:
        tokenizer = loaded.processor
        encoded = dict(tokenizer(item.text, truncation=True, max_length=max_tokens, return_tensors="pt",
                                 return_offsets_mapping=tokenizer.is_fast))
        offsets = encoded.pop("offset_mapping", None)
        ids = encoded["input_ids"][0].tolist()
    capture = capture_encoded(loaded, encoded)
    weights = torch.stack([layer.weights for layer in capture.layers]).double().numpy()  # (L, H, T, T)
    measured = (repeat_measures(weights, ids) if item.shard == PROBE_SHARD
                else text_measures(weights, capture.special, capture.tokens))
    layers, heads = weights.shape[:2]
    syntax = SyntaxCounts.empty(layers, heads)
    if item.shard != PROBE_SHARD and offsets is not None:
        spans, word_heads, relations = parse(item.text)
        syntax = syntax_counts(weights, word_pieces(offsets[0].tolist(), spans), word_heads, relations)
    values = np.full((len(MEASURES), layers, heads), np.nan)
    cells = np.zeros((len(MEASURES), layers, heads, 2), dtype=np.int64)
    if item.importance and importance_kind(loaded) is not None:
        strongest = weights.max(-1).argmax(-1)  # (L, H) the query with the sharpest row, shown as its cell
        key = np.take_along_axis(weights.argmax(-1), strongest[..., None], -1)[..., 0]
        measured["importance"] = (head_importance(loaded, encoded, [layer.name for layer in capture.layers]),
                                  np.stack([strongest, key], axis=-1))
    for m, name in enumerate(MEASURES):
        if name in measured:
            values[m], cells[m] = measured[name]
    return Reading(item.shard, item.index, item.text, capture.tokens, values, cells, syntax)
