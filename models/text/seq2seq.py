"""An encoder-decoder translates greedily; one recorded forward pass over its own output then gives every map:
the encoder's self-attention, the decoder's masked self-attention, and the cross-attention in which the decoder's
queries read the encoder's keys and values (source × target).

Replaying the generation step by step is reading row s of the decoder and cross maps: with a causal decoder,
row s of the pass over the whole output is what step s computed (tests/text/test_seq2seq.py checks it against
the steps recorded during `generate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.engine.capture import CaptureError, layer_nbytes, token_label
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
    encoder: tuple[LayerAttention, ...]  # (H, S, S)
    decoder: tuple[LayerAttention, ...]  # (H, T, T), causal
    cross: tuple[LayerAttention, ...]  # (H, T, S): target queries over source keys

    @property
    def nbytes(self) -> int:
        return sum(layer_nbytes(layer) for layer in (*self.encoder, *self.decoder, *self.cross))


def attention_kind(name: str) -> str:
    """"encoder", "decoder" or "cross" for a recorded attention module's path."""
    if name.endswith(CROSS_NAMES):
        return "cross"
    return "encoder" if f".{name}".find(".encoder.") >= 0 else "decoder"


@torch.inference_mode()
def translate_with_attention(loaded: LoadedModel, source: str, max_new_tokens: int = 32) -> Seq2SeqCapture:
    """Greedy output for `source`, then the recorded pass over it."""
    if not getattr(loaded.model.config, "is_encoder_decoder", False):
        raise CaptureError(f"{loaded.name} is not an encoder-decoder model.")
    if not source.strip():
        raise CaptureError("Type a source text first: the input is empty.")
    tokenizer, model = loaded.processor, loaded.model
    encoded = {k: v.to(loaded.device) for k, v in tokenizer(source, return_tensors="pt").items()}
    generated = model.generate(**encoded, max_new_tokens=max_new_tokens, num_beams=1, do_sample=False)  # (1, 1+N)
    decoder_input = generated[:, :-1]  # the start token and every output token but the last
    with recording(model) as rec:
        model(**encoded, decoder_input_ids=decoder_input)
    kinds: dict[str, list[LayerAttention]] = {"encoder": [], "decoder": [], "cross": []}
    for layer in rec.layers:
        kinds[attention_kind(layer.name)].append(layer)

    def labels(ids) -> tuple[str, ...]:
        return tuple(token_label(tokenizer.decode([i], clean_up_tokenization_spaces=False)) for i in ids.tolist())

    return Seq2SeqCapture(loaded.name, labels(encoded["input_ids"][0]), labels(decoder_input[0]),
                          labels(generated[0, 1:]), tuple(kinds["encoder"]), tuple(kinds["decoder"]),
                          tuple(kinds["cross"]))
