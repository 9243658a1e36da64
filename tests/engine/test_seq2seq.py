"""Encoder-decoder models: every attention call recorded — encoder self, decoder self (causal) and cross — equal to
what output_attentions returns; T5's relative position bias is in the scores."""

from __future__ import annotations

import pytest
import torch

from models.engine.recording import recording
from tests.tiny_models import seq2seq_families, seq2seq_inputs
from tests.tolerance import assert_close32


@pytest.mark.parametrize("name", list(seq2seq_families()))
def test_encoder_decoder_and_cross_attention_equal_output_attentions(name):
    lens, eager = seq2seq_families()[name].pair()
    inputs = seq2seq_inputs()
    with torch.inference_mode(), recording(lens) as rec:
        lens(**inputs)
    with torch.inference_mode():
        out = eager(**inputs, output_attentions=True)
    kinds = {"encoder": [], "decoder": [], "cross": []}
    for layer in rec.layers:
        kind = "cross" if layer.name.endswith(("encoder_attn", "EncDecAttention")) else (
            "encoder" if ".encoder." in f".{layer.name}" else "decoder")
        kinds[kind].append(layer)
    expected = {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions, "cross": out.cross_attentions}
    for kind, layers in kinds.items():
        assert len(layers) == len(expected[kind]) == 2, kind
        for layer, reference in zip(layers, expected[kind], strict=True):
            scale = max(layer.scores.abs().max().item(), 1.0)
            assert_close32(layer.weights, reference[0], scale=scale, terms=8)
            assert_close32(layer.softmax(layer.scores), layer.weights, scale=scale, terms=8)
    assert kinds["cross"][0].weights.shape == (4, 6, 9)  # target queries read source keys
    assert kinds["decoder"][0].allowed.equal(torch.ones(6, 6, dtype=torch.bool).tril())  # causal
    if name == "t5":  # relative position bias: in the scores of the self-attention layers, none in cross-attention
        assert kinds["encoder"][0].bias is not None and kinds["decoder"][0].bias is not None
        assert kinds["cross"][0].bias is None
        torch.testing.assert_close(kinds["encoder"][1].bias, kinds["encoder"][0].bias)  # computed once, shared
