"""An encoder-decoder translates greedily; one recorded forward pass over its own output then gives every map:
the encoder's self-attention, the decoder's masked self-attention, and the cross-attention in which the decoder's
queries read the encoder's keys and values (source × target).

Replaying the generation step by step is reading row s of the decoder and cross maps: with a causal decoder,
row s of the pass over the whole output is what step s computed (tests/text/test_seq2seq.py checks it against
the steps recorded during `generate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.engine.capture import CaptureError, layers_nbytes, token_labels
from models.engine.loading import LoadedModel
from models.engine.recording import LayerAttention, recording

CROSS_NAMES = ("encoder_attn", "EncDecAttention")  # BART/Marian, T5


@dataclass(frozen=True)
class Seq2SeqCapture:
    """A source, the model's greedy output, and the three kinds of attention over them."""

    model_name: str
    source_tokens: tuple[str, ...]
    decoder_tokens: tuple[str, ...]  # what each decoder position reads: the start token, then the output so far
    output_tokens: tuple[str, ...]  # what each decoder position wrote
    output_text: str  # the output as text, special tokens left out
    unknown_words: tuple[str, ...]  # source words the tokenizer could only read as its unknown token
    dropped_tokens: int  # source tokens cut to fit the model's positions
    encoder: tuple[LayerAttention, ...]  # (H, S, S)
    decoder: tuple[LayerAttention, ...]  # (H, T, T), causal
    cross: tuple[LayerAttention, ...]  # (H, T, S): target queries over source keys

    @property
    def nbytes(self) -> int:
        return layers_nbytes((*self.encoder, *self.decoder, *self.cross))

    def layers(self, kind: str) -> tuple[LayerAttention, ...]:
        """The recorded layers of one kind: "encoder", "decoder" or "cross"."""
        return {"encoder": self.encoder, "decoder": self.decoder, "cross": self.cross}[kind]

    def axes(self, kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(query labels, key labels) of one kind's maps: a decoder's self-attention is over the tokens it reads;
        its cross-attention rows are named by the token each writes, as alignments are read."""
        return {"encoder": (self.source_tokens, self.source_tokens),
                "decoder": (self.decoder_tokens, self.decoder_tokens),
                "cross": (self.output_tokens, self.source_tokens)}[kind]


def replayed(maps: np.ndarray, step: int) -> np.ndarray:
    """Decoder or cross maps (..., T, K) as they stand after generation step `step`: later rows not yet computed
    (NaN, drawn blank)."""
    shown = maps.astype(np.float32, copy=True)
    shown[..., step + 1 :, :] = np.nan
    return shown


def strongest_keys(weights: torch.Tensor) -> list[tuple[int, float]]:
    """For each query row of one head's map (T, K): the key it weighs most, and that weight."""
    values, keys = weights.max(-1)
    return list(zip(keys.tolist(), values.tolist(), strict=True))


def _unknown_words(tokenizer, source: str, ids: list[int]) -> tuple[str, ...]:
    """The source words read as the unknown token (a fast tokenizer says where they were; a slow one, only
    that there were some)."""
    unknown = getattr(tokenizer, "unk_token_id", None)
    if unknown is None or unknown not in ids:
        return ()
    if not getattr(tokenizer, "is_fast", False):
        return tuple(tokenizer.unk_token for i in ids if i == unknown)
    offsets = tokenizer(source, return_offsets_mapping=True)["offset_mapping"]  # a cut source: its prefix
    return tuple(source[a:b] for i, (a, b) in zip(ids, offsets, strict=False) if i == unknown)


def attention_kind(name: str) -> str:
    """"encoder", "decoder" or "cross" for a recorded attention module's path."""
    if name.endswith(CROSS_NAMES):
        return "cross"
    return "encoder" if f".{name}".find(".encoder.") >= 0 else "decoder"


def position_limit(config) -> int | None:
    """How many positions the model's position embeddings cover (None: relative positions, no fixed limit)."""
    return getattr(config, "max_position_embeddings", None)


@torch.inference_mode()
def translate_with_attention(loaded: LoadedModel, source: str, max_new_tokens: int = 32) -> Seq2SeqCapture:
    """Greedy output for `source` (cut to the model's positions), then the recorded pass over it."""
    if not loaded.encoder_decoder:
        raise CaptureError(f"{loaded.name} is not an encoder-decoder model.")
    if not source.strip():
        raise CaptureError("Type a source text first: the input is empty.")
    tokenizer, model = loaded.processor, loaded.model
    limit = position_limit(model.config)
    whole = tokenizer(source, return_tensors="pt", truncation=limit is not None, max_length=limit)
    dropped = max(0, len(tokenizer(source)["input_ids"]) - whole["input_ids"].shape[1]) if limit else 0
    encoded = {k: v.to(loaded.device) for k, v in whole.items()}
    if limit is not None:
        max_new_tokens = min(max_new_tokens, limit - 1)  # the start token takes a position too
    generated = model.generate(**encoded, max_new_tokens=max_new_tokens, num_beams=1, do_sample=False)  # (1, 1+N)
    decoder_input = generated[:, :-1]  # the start token and every output token but the last
    with recording(model) as rec:
        model(**encoded, decoder_input_ids=decoder_input)
    kinds: dict[str, list[LayerAttention]] = {"encoder": [], "decoder": [], "cross": []}
    for layer in rec.layers:
        kinds[attention_kind(layer.name)].append(layer)

    def labels(ids) -> tuple[str, ...]:
        return token_labels(tokenizer, ids.tolist())

    source_ids = encoded["input_ids"][0].tolist()
    return Seq2SeqCapture(loaded.name, labels(encoded["input_ids"][0]), labels(decoder_input[0]),
                          labels(generated[0, 1:]), tokenizer.decode(generated[0], skip_special_tokens=True),
                          _unknown_words(tokenizer, source, source_ids), dropped, tuple(kinds["encoder"]),
                          tuple(kinds["decoder"]), tuple(kinds["cross"]))
