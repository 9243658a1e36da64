"""Head importance against an independent computation: transformers' own LM loss (or pooled embedding) with the
head's slice of the output projection's input zeroed by a hook."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers as tf

from models.atlas.importance import head_importance, importance_kind
from models.engine.loading import load_model
from models.engine.precision import float32_tolerance
from tests.silencing import zeroed_head
from tests.tiny_models import families

SENTENCE = "the cat sat on the mat because it was warm"


@pytest.fixture(scope="module")
def tied_llama(tmp_path_factory, minilm):
    """A tiny Llama whose LM head is its input embedding (as SmolLM2's), saved with its LM head."""
    family = families()["llama"]
    config = copy.deepcopy(family.config)
    config.tie_word_embeddings = True
    config.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(0)
    model = tf.LlamaForCausalLM._from_config(config)
    folder = tmp_path_factory.mktemp("importance") / "llama"
    model.save_pretrained(folder)
    minilm.processor.save_pretrained(folder)
    return folder


def test_importance_is_the_rise_of_transformers_own_next_token_loss(tied_llama):
    loaded = load_model(str(tied_llama))
    assert importance_kind(loaded) == "next-token loss rise"
    encoded = dict(loaded.processor(SENTENCE, return_tensors="pt"))
    names = [f"layers.{i}.self_attn" for i in range(loaded.model.config.num_hidden_layers)]
    measured = head_importance(loaded, encoded, names)
    reference = tf.LlamaForCausalLM.from_pretrained(tied_llama, attn_implementation="eager").eval()
    heads = reference.config.num_attention_heads
    width = reference.config.hidden_size // heads
    with torch.inference_mode():
        base = reference(**encoded, labels=encoded["input_ids"]).loss
        for layer in range(reference.config.num_hidden_layers):
            for head in range(heads):
                with zeroed_head(reference.model.layers[layer].self_attn.o_proj, head, width):
                    rise = reference(**encoded, labels=encoded["input_ids"]).loss - base
                tolerance = float32_tolerance(float(base), terms=reference.config.hidden_size)  # losses of ~log V
                assert measured[layer, head] == pytest.approx(float(rise), rel=0, abs=tolerance)


def test_encoders_measure_how_far_the_pooled_embedding_moves(minilm):
    tiny = families()["bert"]
    lens, _ = tiny.pair()
    loaded = dataclasses.replace(minilm, model=lens, name="bert")
    assert importance_kind(loaded) == "1 − cosine of the pooled embedding"
    encoded = tiny.inputs()
    measured = head_importance(loaded, encoded, ["encoder.layer.0.attention.self", "encoder.layer.1.attention.self"])
    width = tiny.config.hidden_size // tiny.config.num_attention_heads
    with torch.inference_mode():
        base = lens(**encoded).last_hidden_state.mean(1)
        for layer in range(2):
            for head in range(tiny.config.num_attention_heads):
                with zeroed_head(lens.encoder.layer[layer].attention.output.dense, head, width):
                    moved = 1 - F.cosine_similarity(lens(**encoded).last_hidden_state.mean(1), base).item()
                tolerance = float32_tolerance(1.0, terms=tiny.config.hidden_size)  # cosines of unit scale
                assert measured[layer, head] == pytest.approx(moved, rel=0, abs=tolerance)
    assert np.all(measured >= -1e-6)
