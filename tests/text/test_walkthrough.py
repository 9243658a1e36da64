"""models.text.walkthrough: the hand computation reproduces the model, on real packs and every text family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from models.engine.capture import capture_image, capture_text
from models.engine.recording import ROW_BLOCK, LayerAttention, recording
from models.text.walkthrough import attention_walkthrough, output_projection
from tests.tiny_models import families

SENTENCE = "The animal didn't cross the street because it was too tired."


def _assert_reproduced(walk):
    """Each hand result equals the model's up to float32 rounding at its own magnitudes (models.engine.precision)."""
    step = walk.head
    assert step.weights_error <= step.weights_tolerance and step.output_error <= step.output_tolerance
    assert walk.concat_error <= walk.concat_tolerance
    assert walk.projection_name is not None and walk.projection_error <= walk.projection_tolerance
    # the bounds are rounding, not slack: a few hundred ulps of what is summed, never a visible difference
    assert walk.projection_tolerance <= 1e-3 * walk.projection_scale and step.weights_tolerance <= 1e-3
    assert walk.head.weights.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("fixture", ["minilm", "smollm2"])
def test_hand_computation_matches_the_model_on_the_packs(fixture, request):
    loaded = request.getfixturevalue(fixture)
    capture = capture_text(loaded, SENTENCE)
    for layer, head, token in [(0, 0, 0), (2, 5, 7), (capture.num_layers - 1, capture.num_heads - 1, 12)]:
        walk = attention_walkthrough(loaded.model, capture.layers[layer], head, token)
        _assert_reproduced(walk)
        d = capture.layers[layer].query.shape[-1]
        assert walk.head.scaled_by_sqrt_d and walk.num_heads * d == walk.concat.numel()
        assert walk.projection_shape == (walk.num_heads * d, loaded.model.config.hidden_size)
        if capture.causal:  # a causal query sees only itself and earlier tokens
            assert walk.head.allowed.sum().item() == token + 1


def test_scaling_shrinks_the_score_variance_by_d(minilm):
    capture = capture_text(minilm, SENTENCE)
    var = attention_walkthrough(minilm.model, capture.layers[1], 3, 4).variance
    assert var.scaled == pytest.approx(var.raw / 32)  # MiniLM: d = 384 / 12


def test_the_score_variance_of_a_long_padded_map_is_that_of_its_allowed_pairs():
    g = torch.Generator().manual_seed(4)
    t = 2 * ROW_BLOCK + 5  # walked in three blocks of rows
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    mask[:, :4] = False  # padding: the first four rows attend nothing
    query, key = torch.randn(2, t, 8, generator=g) * 3 + 1, torch.randn(1, t, 8, generator=g)
    layer = LayerAttention("attn", None, None, mask, scaling=8**-0.5, query=query, key=key, value=key.clone(),
                           context=torch.randn(t, 2, 8, generator=g))
    var = attention_walkthrough(nn.Module(), layer, 1, t - 1).variance
    raw = (query[1].double() @ key[0].double().T)[mask]  # every allowed pair at once
    assert var.raw == pytest.approx(raw.var().item(), rel=1e-9) and var.scaled == pytest.approx(var.raw / 8)


@pytest.mark.parametrize(
    ("name", "projection"),
    [("bert", "encoder.layer.0.attention.output.dense"), ("llama", "model.layers.0.self_attn.o_proj"),
     ("gpt2", "h.0.attn.c_proj"), ("vit", "layers.0.attention.o_proj"),
     ("dinov2", "encoder.layer.0.attention.o_proj"), ("clip", "encoder.layers.0.self_attn.out_proj"),
     ("siglip", "encoder.layers.0.self_attn.out_proj"), ("siglip2", "encoder.layers.0.self_attn.out_proj")],
)
def test_every_family_is_walked_through_to_its_own_output_projection(name, projection):
    family = families()[name]
    model, _ = family.pair()
    with torch.inference_mode(), recording(model) as rec:
        model(**family.inputs())
    assert output_projection(model, rec.layers[0].name)[0] == projection
    _assert_reproduced(attention_walkthrough(model, rec.layers[0], 1, 2))


def test_the_dinov2_pack_is_walked_through_too(dinov2):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    capture = capture_image(dinov2, image)
    _assert_reproduced(attention_walkthrough(dinov2.model, capture.layers[5], 2, 10))
