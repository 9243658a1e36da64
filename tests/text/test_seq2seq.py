"""models.text.seq2seq: the three kinds of attention of a translation, and row s is what generation step s read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.dates.model import date_model, date_tokenizer
from models.engine.capture import CaptureError
from models.engine.lens_attention import LENS_ATTENTION
from models.engine.loading import LoadedModel
from models.engine.recording import recording
from models.text.seq2seq import attention_kind, replayed, strongest_keys, translate_with_attention
from tests.tolerance import assert_close32


def _loaded() -> LoadedModel:
    torch.manual_seed(0)
    tokenizer = date_tokenizer()
    model = date_model(tokenizer, dim=32).eval()
    model.config._attn_implementation = LENS_ATTENTION
    return LoadedModel("dates", "dates", model, tokenizer, "text", False, torch.device("cpu"), torch.float32)


def test_a_translation_gives_encoder_decoder_and_cross_maps_of_the_right_shapes():
    loaded = _loaded()
    capture = translate_with_attention(loaded, "the twenty first of march nineteen ninety nine", max_new_tokens=6)
    s, t = len(capture.source_tokens), len(capture.decoder_tokens)
    assert capture.source_tokens[-1] == "</s>" and capture.decoder_tokens[0] == "<pad>"  # Marian starts from pad
    assert len(capture.output_tokens) == t and 1 <= t <= 6
    assert [layer.weights.shape for layer in capture.encoder] == [(4, s, s)] * 2
    assert [layer.weights.shape for layer in capture.decoder] == [(4, t, t)] * 2
    assert [layer.weights.shape for layer in capture.cross] == [(4, t, s)] * 2
    assert capture.decoder[0].allowed.equal(torch.ones(t, t, dtype=torch.bool).tril())


def test_each_row_is_what_the_generation_step_read():
    """The cross-attention rows recorded while `generate` runs step by step (with its cache) equal the rows of the
    one pass over the whole output."""
    loaded = _loaded()
    source = "march ninth two thousand nineteen"
    capture = translate_with_attention(loaded, source, max_new_tokens=5)
    encoded = loaded.processor(source, return_tensors="pt")
    with torch.inference_mode(), recording(loaded.model) as rec:
        loaded.model.generate(**encoded, max_new_tokens=5, num_beams=1, do_sample=False)
    steps = [layer for layer in rec.layers if attention_kind(layer.name) == "cross"]
    layers = len(capture.cross)
    for s in range(len(capture.decoder_tokens)):
        for index in range(layers):
            step_row = steps[s * layers + index].weights[:, -1]  # (H, S): the step's one query
            assert_close32(step_row, capture.cross[index].weights[:, s], scale=1.0, terms=32)


def test_kinds_by_module_path():
    assert attention_kind("model.encoder.layers.0.self_attn") == "encoder"
    assert attention_kind("model.decoder.layers.1.encoder_attn") == "cross"
    assert attention_kind("decoder.block.0.layer.1.EncDecAttention") == "cross"
    assert attention_kind("decoder.block.0.layer.0.SelfAttention") == "decoder"
    assert attention_kind("encoder.block.1.layer.0.SelfAttention") == "encoder"


def test_replaying_a_step_blanks_only_the_rows_not_computed_yet():
    maps = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)  # (H, T, S)
    shown = replayed(maps, 1)
    assert np.array_equal(shown[:, :2], maps[:, :2]) and np.isnan(shown[:, 2:]).all()
    assert np.array_equal(replayed(maps, 3), maps) and not np.isnan(maps).any()  # a copy: the capture is untouched


def test_strongest_keys_name_each_rows_largest_weight():
    weights = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert strongest_keys(weights) == [(1, pytest.approx(0.7)), (0, pytest.approx(0.5))]


def test_a_long_source_is_cut_to_the_models_positions_and_unknown_words_are_named():
    loaded = _loaded()  # positions: 32
    capture = translate_with_attention(loaded, "The twenty FIRST of march, " + "nineteen " * 40, max_new_tokens=100)
    assert len(capture.source_tokens) == 32 and capture.dropped_tokens == 5 + 40 + 1 - 32  # five words, forty more, EOS
    assert capture.source_tokens[:3] == ("the", "twenty", "first")  # lower-cased by the tokenizer
    assert capture.unknown_words == ("march,",)
    assert len(capture.decoder_tokens) <= 31  # the output fits the decoder's positions too


def test_a_decoder_only_model_or_an_empty_source_is_refused(smollm2):
    with pytest.raises(CaptureError, match="not an encoder-decoder"):
        translate_with_attention(smollm2, "Hello")
    with pytest.raises(CaptureError, match="empty"):
        translate_with_attention(_loaded(), "  \n")
