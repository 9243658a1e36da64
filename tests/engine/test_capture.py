"""capture_text / capture_image on the real packs, and patch-grid bookkeeping on every vision family."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel
from transformers.tokenization_utils_tokenizers import TokenizersBackend

from models.engine.capture import (
    CaptureError,
    capture_text,
    encode_text,
    patch_grid,
    token_label,
    token_labels,
)
from models.engine.loading import LoadedModel
from tests.tiny_models import dinov2_with_registers, families
from tests.tolerance import assert_close32

SENTENCE = "The animal didn't cross the street because it was too tired."


def _eager_attentions(loaded: LoadedModel, text: str):
    eager = AutoModel.from_pretrained(loaded.source, attn_implementation="eager").eval()
    with torch.inference_mode():
        return eager(**loaded.processor(text, return_tensors="pt"), output_attentions=True).attentions


def _assert_weights(layer, expected):
    """Weights equal `expected` up to float32 rounding of logits of size max|scores| over d-term dot products."""
    scale = max(layer.scores.abs().max().item(), 1.0)
    assert_close32(layer.weights, expected, scale=scale, terms=layer.query.shape[-1] if layer.query is not None else 1)


@pytest.mark.parametrize("pack", ["minilm", "smollm2"])
def test_pack_capture_equals_eager_output_attentions(pack, request):
    loaded = request.getfixturevalue(pack)
    capture = capture_text(loaded, SENTENCE)
    reference = _eager_attentions(loaded, SENTENCE)
    assert capture.num_layers == len(reference)
    for layer, expected in zip(capture.layers, reference, strict=True):
        _assert_weights(layer, expected[0])
        logits = layer.scores if layer.mask is None else layer.scores.masked_fill(~layer.mask, float("-inf"))
        _assert_weights(layer, torch.softmax(logits, -1))


def test_minilm_shapes_tokens_and_sentence_pairs(minilm):
    capture = capture_text(minilm, SENTENCE)
    assert (capture.num_layers, capture.num_heads) == (6, 12)
    assert capture.tokens[0] == "[CLS]" and capture.tokens[-1] == "[SEP]" and "animal" in capture.tokens
    assert not capture.causal and capture.segments is None and capture.second_segment is None
    pair = capture_text(minilm, "Where is the cat?", "The cat is on the mat.")
    assert pair.segments[0] == 0 and pair.segments[-1] == 1 and pair.tokens.count("[SEP]") == 2
    assert pair.second_segment == pair.tokens.index("[SEP]") + 1  # "The" right after the first [SEP]


def test_smollm2_is_causal_with_grouped_query_heads_and_real_tokens(smollm2):
    capture = capture_text(smollm2, SENTENCE)
    assert (capture.num_layers, capture.num_heads, capture.kv_heads) == (30, 9, 3)
    assert capture.causal and capture.tokens[0] == "The"  # no <|im_start|> is invented
    for layer in capture.layers:
        assert torch.equal(layer.weights.triu(1), torch.zeros_like(layer.weights))


def test_long_text_is_truncated_with_the_count_of_dropped_tokens(minilm):
    text = "word " * 700
    capture = capture_text(minilm, text)
    assert capture.seq_len == 512 and capture.dropped_tokens == 702 - 512
    assert capture_text(minilm, "short", max_tokens=64).dropped_tokens == 0


@pytest.mark.parametrize("pack", ["minilm", "smollm2"])
@pytest.mark.parametrize("limit", [3, 7, 64, 512])
def test_a_text_cut_in_one_pass_equals_tokenising_it_whole_then_cut(pack, limit, request):
    """The one-pass cut (the cut tokens come back as further chunks) keeps the same tensors and counts the same
    dropped tokens as tokenising the whole text, then again with truncation."""
    loaded = request.getfixturevalue(pack)
    text = "Ünïcode 𝔣𝔬𝔫𝔱𝔰, emoji 🧠 and spaces:   " + SENTENCE * 60
    encoded, dropped = encode_text(loaded, text, max_tokens=limit)
    whole = loaded.processor(text, return_tensors="pt")["input_ids"].shape[1]
    cut = loaded.processor(text, truncation=True, max_length=limit, return_tensors="pt")
    assert sorted(encoded) == sorted(cut)
    for name in cut:
        assert torch.equal(encoded[name], cut[name]), name
    assert dropped == whole - cut["input_ids"].shape[1] > 0


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused_with_a_message(minilm, text):
    with pytest.raises(CaptureError, match="empty"):
        capture_text(minilm, text)


@pytest.mark.parametrize("text", ["مرحبا بالعالم", "emoji 🤖🧠 and \u200b zero-width", "\x00\x07 control", "ß" * 3000])
def test_odd_unicode_gives_a_capture(smollm2, text):
    capture = capture_text(smollm2, text, max_tokens=128)
    assert capture.seq_len == len(capture.tokens) <= 128


def test_token_labels_show_edges():
    assert token_label(" cat") == "␣cat" and token_label("\n") == "↵" and token_label("") == "∅"


@pytest.mark.parametrize("pack", ["minilm", "smollm2"])
def test_token_labels_decoded_by_the_rust_tokenizer_equal_batch_decode_over_the_whole_vocabulary(pack, request):
    tokenizer = request.getfixturevalue(pack).processor
    assert type(tokenizer)._decode is TokenizersBackend._decode  # the packs' tokenizers take the Rust path
    ids = list(range(len(tokenizer)))
    expected = tokenizer.batch_decode([[i] for i in ids], clean_up_tokenization_spaces=False)
    assert token_labels(tokenizer, ids) == tuple(token_label(text) for text in expected)


def _tiny(name: str) -> LoadedModel:
    return families()[name].loaded()


@pytest.mark.parametrize(
    ("name", "pixels", "expected"),
    [
        ("vit", (32, 32), (4, 4, 1, 0, 0)),
        ("dinov2", (32, 48), (4, 6, 1, 0, 0)),  # non-square
        ("clip", (32, 32), (4, 4, 1, 0, 0)),
        ("siglip", (32, 32), (4, 4, 0, 0, 0)),
    ],
)
def test_patch_grid_geometry(name, pixels, expected):
    loaded = _tiny(name)
    inputs = {"pixel_values": torch.zeros(1, 3, *pixels)}
    seq_len = expected[0] * expected[1] + expected[2]
    grid = patch_grid(loaded, inputs, seq_len)
    assert (grid.rows, grid.cols, grid.cls_tokens, grid.registers, grid.padding) == expected
    assert grid.patches.stop - grid.patches.start == grid.rows * grid.cols


def test_naflex_grid_drops_padding():
    loaded = _tiny("siglip2")
    inputs = families()["siglip2"].inputs()
    grid = patch_grid(loaded, inputs, 16)
    assert (grid.rows, grid.cols, grid.cls_tokens, grid.padding) == (3, 4, 0, 4)
    assert grid.patches == slice(0, 12)


def test_dinov2_registers_are_not_patches():
    loaded = dinov2_with_registers(4).loaded()
    grid = patch_grid(loaded, {"pixel_values": torch.zeros(1, 3, 32, 32)}, 1 + 4 + 16)
    assert (grid.cls_tokens, grid.registers, grid.patches) == (1, 4, slice(5, 21))


def test_a_capture_reports_each_layer_as_it_is_recorded(minilm):
    calls = []
    capture = capture_text(minilm, SENTENCE, overview=True, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, capture.num_layers) for done in range(1, capture.num_layers + 1)]
    assert capture.overview is not None and len(capture.overview) == capture.num_layers
