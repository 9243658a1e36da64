"""Silencing heads: the same as zeroing that head's slice of the output projection's input by hand, per batch
item; keeping every head changes nothing; nothing stays attached after the context."""

from __future__ import annotations

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
