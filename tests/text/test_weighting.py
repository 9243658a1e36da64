"""models.text.weighting: α·‖v W_O‖ by hand and as the model's own output decomposed; sinks hidden and renormalised."""

from __future__ import annotations

import pytest
import torch

from models.engine.capture import capture_text
from models.engine.loading import load_model
from models.engine.recording import recording
from models.text.walkthrough import output_projection
from models.text.weighting import (
    MapStyle,
    WeightingUnavailable,
    hide_sinks,
    sink_positions,
    styled_maps,
    value_norms,
)
from tests.tiny_models import families, more_families
from tests.tolerance import assert_close32

SENTENCE = "The animal didn't cross the street because it was too tired."


def _norms_by_hand(model, layer) -> torch.Tensor:
    """‖v_j^h W_O^h‖ one head and one key at a time: the head's slice of W_O's input rows, written out."""
    _, projection = output_projection(model, layer.name)
    heads, keys, d = layer.num_heads, layer.value.shape[1], layer.value.shape[2]
    weight = projection.weight.detach().double()
    rows = weight.T if isinstance(projection, torch.nn.Linear) else weight  # (H*d, C): input rows of W_O
    norms = torch.zeros(heads, keys, dtype=torch.float64)
    for h in range(heads):
        kv_head = h // (heads // layer.value.shape[0])  # grouped-query attention: heads share key/value heads
        for j in range(keys):
            written = layer.value[kv_head, j].double() @ rows[h * d : (h + 1) * d]  # (C,)
            norms[h, j] = written.pow(2).sum().sqrt()
    return norms


@pytest.mark.parametrize("name", ["bert", "llama", "gpt2"])
def test_value_norms_match_a_hand_computation_on_every_text_family(name):
    family = families()[name]
    model, _ = family.pair()
    with torch.inference_mode(), recording(model) as rec:
        model(**family.inputs())
    for layer in rec.layers:
        expected = _norms_by_hand(model, layer)
        assert_close32(value_norms(model, layer), expected.float(), scale=expected.max().item(),
                       terms=layer.value.shape[-1])


@pytest.mark.parametrize("fixture", ["minilm", "smollm2"])
def test_the_weighted_pieces_add_up_to_what_the_model_writes(fixture, request):
    """Σ_h Σ_j α_ij v_j W_O^h + b_O is the attention output: the split of W_O by head is the model's own."""
    loaded = request.getfixturevalue(fixture)
    capture = capture_text(loaded, SENTENCE)
    layer = capture.layers[2]
    _, projection = output_projection(loaded.model, layer.name)
    from models.text.weighting import head_output_weights

    w_o = head_output_weights(loaded.model, layer)  # (H, d, C)
    value = layer.value.repeat_interleave(layer.num_heads // layer.value.shape[0], dim=0)  # (H, T, d)
    pieces = torch.einsum("hqk,hkd,hdc->qc", layer.weights, value, w_o)  # (T, C)
    if projection.bias is not None:
        pieces = pieces + projection.bias.detach()
    with torch.inference_mode():
        written = projection(layer.context.reshape(capture.seq_len, -1))
    assert_close32(pieces, written, scale=written.abs().max().item(), terms=layer.num_heads * value.shape[1] * 64)
    norms = value_norms(loaded.model, layer)
    weighted = styled_maps(loaded.model, layer, MapStyle("value-norm"), [])
    torch.testing.assert_close(weighted, layer.weights * norms[:, None, :])


def test_hidden_sinks_leave_rows_that_sum_to_one_over_the_other_keys():
    maps = torch.tensor([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.1, 0.3]]])  # (1, 3, 3), causal rows
    shown = hide_sinks(maps, [0])
    assert torch.isnan(shown[0, 0]).all()  # the first row attended only the sink: nothing to show
    torch.testing.assert_close(shown[0, 1], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(shown[0, 2], torch.tensor([0.0, 0.25, 0.75]))
    assert torch.equal(maps[0, 2], torch.tensor([0.6, 0.1, 0.3]))  # the capture's own maps are untouched


def test_sinks_are_the_first_token_and_the_special_tokens(minilm, smollm2):
    bert = capture_text(minilm, "The cat sat.")
    assert sink_positions(bert.tokens, bert.special) == [0, len(bert.tokens) - 1]  # [CLS] and [SEP]
    smol = capture_text(smollm2, "The cat sat.")
    assert sink_positions(smol.tokens, smol.special) == [0]


@pytest.mark.parametrize("name", ["bloom", "mpt"])
def test_models_that_give_only_weights_say_why_they_cannot_be_value_weighted(name, tmp_path, minilm):
    loaded = load_model(str(more_families()[name].save(tmp_path / name, tokenizer=minilm.processor)))
    layer = capture_text(loaded, SENTENCE).layers[0]
    with pytest.raises(WeightingUnavailable, match="only its attention weights"):
        value_norms(loaded.model, layer)
    assert styled_maps(loaded.model, layer, MapStyle(hide_sinks=True), [0]).shape == layer.weights.shape
