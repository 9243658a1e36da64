"""Per-head measures of one input's attention, as the literature defines them: where a head looks (sinks,
neighbours, distance), how spread its attention is, and whether it copies (duplicate-token, induction).

Every share is TransformerLens's "mul" detection score: the head's attention on the target cells over all its
attention, Σ(A ⊙ P) / ΣA, so rows that give part of their weight to a sink (GPT-OSS) count for what they give.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

# name -> whether a higher value is "more" of the role (entropy: a focused head has a low one)
TEXT_MEASURES: dict[str, bool] = {
    "sink_share": True,
    "special_share": True,
    "punctuation_share": True,
    "previous_token": True,
    "current_token": True,
    "next_token": True,
    "mean_distance": True,
    "entropy": False,
}
REPEAT_MEASURES: dict[str, bool] = {"duplicate_token": True, "induction": True}
DESCRIPTIONS: dict[str, str] = {
    "sink_share": "attention on the first token (an attention sink)",
    "special_share": "attention on special tokens ([CLS], [SEP], BOS…)",
    "punctuation_share": "attention on punctuation",
    "previous_token": "attention on the token just before",
    "current_token": "attention on the token itself",
    "next_token": "attention on the token just after",
    "mean_distance": "attention-weighted distance, in tokens",
    "entropy": "spread of each row, in bits (low: focused)",
    "duplicate_token": "on random tokens repeated: attention on the earlier copy of the same token",
    "induction": "on random tokens repeated: attention on the token after the earlier copy",
    "importance": "how much worse the model does with this head zeroed (loss rise, or 1 − cos for encoders)",
}


def is_punctuation(token: str) -> bool:
    """A token made only of punctuation once its word-piece marks and spaces are stripped (Clark et al. 2019)."""
    text = token.strip().removeprefix("##").strip("␣▁Ġ ")
    return bool(text) and all(unicodedata.category(c).startswith("P") for c in text)


def _share(weights: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ(A ⊙ P) / ΣA per head (TransformerLens "mul"), and the cell that gives most of it: weights (L, H, T, T),
    target (T, T) -> (L, H) and (L, H, 2) [query, key]."""
    on_target = weights * target
    flat = on_target.reshape(*on_target.shape[:2], -1).argmax(-1)
    cells = np.stack(np.unravel_index(flat, on_target.shape[-2:]), axis=-1)
    return on_target.sum(axis=(-1, -2)) / weights.sum(axis=(-1, -2)), cells


def _columns(length: int, keys: np.ndarray) -> np.ndarray:
    """(T, T) with ones in the key columns `keys` (bool, (T,))."""
    return np.broadcast_to(keys.astype(np.float64), (length, length))


def _entropy(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean row entropy in bits per head, and the most focused row's cell (its query and its largest key)."""
    rows = weights / np.maximum(weights.sum(-1, keepdims=True), np.finfo(np.float64).tiny)
    with np.errstate(divide="ignore", invalid="ignore"):
        row_entropy = -np.where(rows > 0, rows * np.log2(np.where(rows > 0, rows, 1.0)), 0.0).sum(-1)  # (L, H, T)
    query = row_entropy.argmin(-1)  # (L, H)
    key = np.take_along_axis(weights.argmax(-1), query[..., None], -1)[..., 0]
    return row_entropy.mean(-1), np.stack([query, key], axis=-1)


def text_measures(weights: np.ndarray, special: Sequence[bool],
                  tokens: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The corpus measures of one text from its weights (L, H, T, T), rows = queries: name -> ((L, H) values,
    (L, H, 2) the [query, key] cell that shows it best).

    - sink_share: attention on the first token (Xiao et al. 2023, StreamingLLM; Gu et al. 2024).
    - special_share, punctuation_share: on [CLS]/[SEP]/BOS-like tokens, on punctuation (Clark et al. 2019, §3).
    - previous_token, current_token, next_token: on the token at offset -1, 0, +1 (Clark et al. 2019, §3;
      TransformerLens's previous-token detector).
    - mean_distance: attention-weighted |query - key| in tokens (Vig & Belinkov 2019, "Analyzing the Structure
      of Attention in a Transformer Language Model").
    - entropy: mean over queries of each row's entropy in bits (Clark et al. 2019, §3: broad vs focused heads).
    """
    weights = np.asarray(weights, dtype=np.float64)
    length = weights.shape[-1]
    positions = np.arange(length)
    punctuation = np.array([is_punctuation(t) for t in tokens], dtype=bool)
    targets = {
        "sink_share": _columns(length, positions == 0),
        "special_share": _columns(length, np.asarray(special, dtype=bool)),
        "punctuation_share": _columns(length, punctuation),
        "previous_token": np.eye(length, k=-1),
        "current_token": np.eye(length),
        "next_token": np.eye(length, k=1),
        "mean_distance": np.abs(positions[:, None] - positions[None, :]).astype(np.float64),
    }
    return {**{name: _share(weights, target) for name, target in targets.items()}, "entropy": _entropy(weights)}


def duplicate_pattern(ids: Sequence[int]) -> np.ndarray:
    """(T, T): 1 where the key is an earlier occurrence of the query's token (TransformerLens head_detector)."""
    ids = np.asarray(ids)
    same = (ids[:, None] == ids[None, :]).astype(np.float64)
    np.fill_diagonal(same, 0.0)
    return np.tril(same)


def induction_pattern(ids: Sequence[int]) -> np.ndarray:
    """(T, T): 1 where the key comes right after an earlier occurrence of the query's token (Olsson et al. 2022;
    TransformerLens head_detector: the duplicate pattern shifted one key to the right)."""
    duplicate = duplicate_pattern(ids)
    shifted = np.zeros_like(duplicate)
    shifted[:, 1:] = duplicate[:, :-1]
    return np.tril(shifted)


def repeat_measures(weights: np.ndarray, ids: Sequence[int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Duplicate-token and induction scores (values (L, H) and cells (L, H, 2), as text_measures) on a sequence
    of random tokens repeated twice (TransformerLens's detector, Olsson et al. 2022): the head's attention share
    on those cells."""
    weights = np.asarray(weights, dtype=np.float64)
    return {"duplicate_token": _share(weights, duplicate_pattern(ids)),
            "induction": _share(weights, induction_pattern(ids))}
