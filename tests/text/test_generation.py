"""models.text.generation: the tokens model.generate gives, and each step's attention equal to a full pass's rows."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from models.engine.capture import capture_encoded
from models.text.generation import GenerationError, generate_with_attention
from tests.tolerance import assert_close32

PROMPT = "The cat sat on the mat because"


@pytest.fixture(scope="module")
def reference(smollm2):
    """The same weights as a full LlamaForCausalLM with its own LM head and plain eager attention."""
    return AutoModelForCausalLM.from_pretrained(smollm2.source, attn_implementation="eager").eval()


def _generate(reference, smollm2, new_tokens: int, **settings) -> list[int]:
    ids = smollm2.processor(PROMPT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = reference.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, top_k=0, top_p=1.0,
                                 pad_token_id=smollm2.processor.eos_token_id, **settings)
    return out[0, ids.shape[1]:].tolist()


def test_greedy_tokens_equal_model_generate(smollm2, reference):
    generation = generate_with_attention(smollm2, PROMPT, 12)
    assert generation.continuation_ids == _generate(reference, smollm2, 12, do_sample=False)
    for step in generation.steps:  # greedy: the chosen token is the most probable one
        assert step.top_ids[0] == step.token_id and step.probability == pytest.approx(step.top_probabilities[0])


@pytest.mark.parametrize(("seed", "temperature"), [(3, 0.8), (11, 1.3)])
def test_sampled_tokens_equal_model_generate_with_the_same_seed_and_temperature(smollm2, reference, seed,
                                                                                temperature):
    generation = generate_with_attention(smollm2, PROMPT, 10, sample=True, temperature=temperature, seed=seed)
    torch.manual_seed(seed)
    expected = _generate(reference, smollm2, 10, do_sample=True, temperature=temperature)
    assert generation.continuation_ids == expected
    again = generate_with_attention(smollm2, PROMPT, 10, sample=True, temperature=temperature, seed=seed)
    assert again.continuation_ids == expected  # the seed alone decides


def test_each_step_reads_what_one_forward_pass_over_the_whole_text_reads(smollm2):
    generation = generate_with_attention(smollm2, PROMPT, 6)
    prompt_ids = smollm2.processor(PROMPT, return_tensors="pt")["input_ids"][0].tolist()
    ids = torch.tensor([prompt_ids + generation.continuation_ids[:-1]])
    full = capture_encoded(smollm2, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    p = len(prompt_ids)
    assert generation.layer_names == tuple(layer.name for layer in full.layers)
    for s, step in enumerate(generation.steps):
        assert step.rows.shape == (full.num_layers, full.num_heads, p + s)
        expected = torch.stack([layer.weights[:, p - 1 + s, : p + s] for layer in full.layers])  # (L, H, Tk)
        assert_close32(step.rows, expected, scale=1.0, terms=64 * (p + s))
        torch.testing.assert_close(step.rows.sum(-1), torch.ones(step.rows.shape[:2]))
    assert generation.tokens[: p] == full.tokens[: p]


def test_models_that_cannot_generate_say_why(minilm, smollm2):
    with pytest.raises(GenerationError, match="no language-model head"):
        generate_with_attention(minilm, PROMPT, 3)
    with pytest.raises(GenerationError, match="empty"):
        generate_with_attention(smollm2, "  ", 3)
    with pytest.raises(GenerationError, match="exceed"):
        generate_with_attention(smollm2, "word " * 500, 64)
