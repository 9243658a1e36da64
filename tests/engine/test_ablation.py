"""Silencing heads: the same as zeroing that head's slice of the output projection's input by hand, per batch
item; keeping every head changes nothing; nothing stays attached after the context."""

from __future__ import annotations

import pytest
import torch

from models.engine.ablation import ablating
from tests.silencing import zeroed_head
from tests.tiny_models import families
from tests.tolerance import assert_close32


def test_a_silenced_head_equals_zeroing_its_slice_before_the_output_projection():
    lens, _ = families()["llama"].pair()
    inputs = families()["llama"].inputs()
    config = lens.config
    heads, width = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    name = "model.layers.1.self_attn"
    keep = 1 - torch.eye(heads)  # batch item h silences head h
    batch = {k: v.expand(heads, -1) for k, v in inputs.items()}
    with torch.inference_mode(), ablating(lens, {name: keep}):
        silenced = lens.model(**batch).last_hidden_state
    projection = lens.get_submodule(name).o_proj
    for head in range(heads):
        with torch.inference_mode(), zeroed_head(projection, head, width):
            expected = lens.model(**inputs).last_hidden_state[0]
        assert_close32(silenced[head], expected, terms=config.hidden_size)  # batched vs one: sums may differ


def test_keeping_every_head_changes_nothing_and_nothing_stays_after():
    lens, _ = families()["bert"].pair()
    inputs = families()["bert"].inputs()
    with torch.inference_mode():
        before = lens(**inputs).last_hidden_state
        with ablating(lens, {"encoder.layer.0.attention.self": torch.ones(1, 4)}):
            kept = lens(**inputs).last_hidden_state
        with ablating(lens, {"encoder.layer.0.attention.self": torch.zeros(1, 4)}):
            silenced = lens(**inputs).last_hidden_state
        after = lens(**inputs).last_hidden_state
    assert torch.equal(kept, before) and torch.equal(after, before)
    assert not torch.allclose(silenced, before)


def test_silencing_every_head_of_a_layer_equals_zeroing_its_attention_output():
    """Llama's o_proj has no bias: with every head silenced the attention block adds exactly nothing."""
    lens, _ = families()["llama"].pair()
    inputs = families()["llama"].inputs()
    name = "model.layers.0.self_attn"
    attention = lens.get_submodule(name)
    assert attention.o_proj.bias is None
    with torch.inference_mode(), ablating(lens, {name: torch.zeros(1, lens.config.num_attention_heads)}):
        silenced = lens.model(**inputs).last_hidden_state

    def zero_output(module, args, output):
        return (torch.zeros_like(output[0]), *output[1:])

    handle = attention.register_forward_hook(zero_output)
    try:
        with torch.inference_mode():
            expected = lens.model(**inputs).last_hidden_state
    finally:
        handle.remove()
    assert torch.equal(silenced, expected)


@pytest.mark.parametrize("name", ["llama", "bert"])
def test_mean_ablation_puts_each_positions_mean_over_what_it_sees_in_place_of_the_head(name):
    """By hand: the head's slice of the output projection's input replaced by the mean over the positions each
    query may attend to (itself and earlier ones in a causal model, every token in an encoder)."""
    from models.engine.recording import recording

    family = families()[name]
    lens, _ = family.pair()
    inputs = family.inputs()
    layer_name = {"llama": "model.layers.1.self_attn", "bert": "encoder.layer.1.attention.self"}[name]
    heads = lens.config.num_attention_heads
    width = lens.config.hidden_size // heads
    head = 2
    keep = torch.ones(1, heads)
    keep[0, head] = 0
    base = lens.model if name == "llama" else lens
    with torch.inference_mode(), ablating(lens, {layer_name: keep}, mean=True):
        ablated = base(**inputs).last_hidden_state[0]
    with torch.inference_mode(), recording(lens) as rec:
        base(**inputs)
    context = next(layer for layer in rec.layers if layer.name == layer_name).context  # (T, H, d)
    t = context.shape[0]
    seen = torch.ones(t, t).tril() if name == "llama" else torch.ones(t, t)
    mean = (seen / seen.sum(-1, keepdim=True)) @ context[:, head]  # (T, d): each position's visible mean
    projection = lens.get_submodule(layer_name if name == "llama" else "encoder.layer.1.attention").get_submodule(
        "o_proj" if name == "llama" else "output.dense")
    replacement = mean - context[:, head]

    def swap_head(module, args):
        (x,) = args
        x = x.clone()
        x[0, :, head * width : (head + 1) * width] += replacement
        return (x,)

    handle = projection.register_forward_pre_hook(swap_head)
    try:
        with torch.inference_mode():
            expected = base(**inputs).last_hidden_state[0]
    finally:
        handle.remove()
    assert_close32(ablated, expected, scale=expected.abs().max().item(), terms=lens.config.hidden_size)
    with torch.inference_mode():
        plain = base(**inputs).last_hidden_state[0]
    assert not torch.allclose(ablated, plain)
