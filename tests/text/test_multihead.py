"""models.text.multihead: the one-head equivalent against Q K^T / sqrt(d_model) rebuilt from the weights."""

from __future__ import annotations

import pytest
import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from models.engine.capture import capture_text
from models.engine.recording import ROW_BLOCK, LayerAttention, masked_softmax, recording
from models.text.multihead import compare_heads, full_width_attention, head_divergence, single_head_equivalent
from tests.tiny_models import families
from tests.tolerance import assert_close32

SENTENCE = "The animal didn't cross the street because it was too tired."


def _full_width_from_weights_bert(bert, hidden: torch.Tensor, layer: int) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d_model)) with Q, K from BERT layer `layer`'s own query/key projections."""
    attention = bert.encoder.layer[layer].attention.self
    q, k = attention.query(hidden), attention.key(hidden)  # (T, d_model)
    return torch.softmax(q @ k.T / q.shape[-1] ** 0.5, dim=-1)


def _full_width_from_weights_llama(llama, hidden: torch.Tensor, layer: int) -> torch.Tensor:
    """The same for a Llama layer: RMSNorm, q/k projections, rotary embedding, shared KV heads, causal mask."""
    base = getattr(llama, "model", llama)  # LlamaForCausalLM or LlamaModel
    block, config = base.layers[layer], llama.config
    t, heads, kv = hidden.shape[0], config.num_attention_heads, config.num_key_value_heads
    d = config.hidden_size // heads
    x = block.input_layernorm(hidden)[None]  # (1, T, D)
    q = block.self_attn.q_proj(x).view(1, t, heads, d).transpose(1, 2)  # (1, H, T, d)
    k = block.self_attn.k_proj(x).view(1, t, kv, d).transpose(1, 2)  # (1, H_kv, T, d)
    cos, sin = base.rotary_emb(x, torch.arange(t)[None])
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    k = k.repeat_interleave(heads // kv, dim=1)
    q_cat = q[0].transpose(0, 1).reshape(t, heads * d)  # heads side by side: (T, d_model)
    k_cat = k[0].transpose(0, 1).reshape(t, heads * d)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    return masked_softmax(q_cat @ k_cat.T / (heads * d) ** 0.5, causal)


def _assert_equivalent(layer, expected):
    """The one-head map from the scores equals the one from the projections, up to float32 rounding of logits
    whose per-head terms add up to at most sum_h |scores_h| / sqrt(H), over d_model products."""
    heads, _, d = layer.query.shape
    scale = max(layer.scores.abs().sum(0).max().item() / heads**0.5, 1.0)
    assert_close32(single_head_equivalent(layer.scores, layer.allowed), expected, scale=scale, terms=heads * d)


def test_minilm_single_head_equivalent_equals_full_width_softmax_from_the_projections(minilm):
    capture = capture_text(minilm, SENTENCE)
    ids = minilm.processor(SENTENCE, return_tensors="pt")
    with torch.inference_mode():
        hidden = minilm.model(**ids, output_hidden_states=True).hidden_states
        for i, layer in enumerate(capture.layers):
            expected = _full_width_from_weights_bert(minilm.model, hidden[i][0], i)
            _assert_equivalent(layer, expected)


def _llama_check(model, inputs):
    with torch.inference_mode(), recording(model) as rec:
        hidden = model(**inputs, output_hidden_states=True).hidden_states
    assert rec.layers[0].key.shape[0] < rec.layers[0].num_heads  # grouped-query attention for real
    with torch.inference_mode():
        for i, layer in enumerate(rec.layers):
            expected = _full_width_from_weights_llama(model, hidden[i][0], i)
            _assert_equivalent(layer, expected)
            comparison = compare_heads(layer)
            assert comparison.equivalence_error <= comparison.equivalence_tolerance


def test_tiny_llama_with_grouped_query_attention():
    lens, _ = families()["llama"].pair()
    _llama_check(lens, families()["llama"].inputs())


def test_smollm2_with_grouped_query_attention(smollm2):
    _llama_check(smollm2.model, dict(smollm2.processor(SENTENCE, return_tensors="pt")))


def test_one_head_is_its_own_equivalent():
    scores = torch.randn(1, 5, 5)
    torch.testing.assert_close(single_head_equivalent(scores, None), torch.softmax(scores[0], -1))


def test_divergence_is_zero_for_equal_heads_one_bit_for_disjoint_and_symmetric():
    one_hot = torch.eye(4)[None].repeat(3, 1, 1)  # (3, 4, 4), heads 0 and 1 equal
    one_hot[2] = torch.eye(4).roll(1, dims=1)  # head 2 always looks elsewhere
    js = head_divergence(one_hot)
    assert js[0, 1] == pytest.approx(0.0, abs=1e-7) and js[0, 2] == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(js, js.T)
    random = torch.softmax(torch.randn(5, 6, 6), -1)
    js = head_divergence(random)
    assert ((js >= 0) & (js <= 1)).all() and js.diagonal().abs().max() < 1e-6


def test_masked_keys_get_no_weight_and_fully_masked_rows_are_zero():
    allowed = torch.tensor([[True, False], [False, False]])
    out = masked_softmax(torch.zeros(2, 2), allowed)
    assert out.tolist() == [[1.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("kind", ["padded causal", "bias", "sinks"])
def test_a_layer_compared_block_by_block_gives_what_its_whole_maps_give(kind):
    g = torch.Generator().manual_seed(5)
    t, heads, d = 2 * ROW_BLOCK + 37, 4, 8  # three blocks of rows, the last one short
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    mask[:, :3] = False  # padding: the first three rows attend nothing
    extra = {"bias": dict(bias=torch.randn(heads, t, t, generator=g)),
             "sinks": dict(sink=torch.randn(heads, generator=g))}.get(kind, {})
    layer = LayerAttention("layer", None, None, mask, scaling=0.35, query=torch.randn(heads, t, d, generator=g),
                           key=torch.randn(2, t, d, generator=g), value=torch.randn(2, t, d, generator=g), **extra)
    comparison = compare_heads(layer)
    weights, scores = layer.weights, layer.scores  # (H, T, T) whole: the plain definitions
    assert_close32(comparison.average, weights.mean(0), scale=scores.abs().max().item(), terms=d)
    assert_close32(comparison.equivalent, single_head_equivalent(scores, mask), scale=scores.abs().sum(0).max().item(),
                   terms=heads * d)
    torch.testing.assert_close(comparison.divergence, head_divergence(weights, mask), rtol=1e-4, atol=1e-5)
    between = head_divergence(torch.stack([weights.mean(0), single_head_equivalent(scores, mask)]), mask)[0, 1]
    assert comparison.average_vs_equivalent == pytest.approx(between.item(), rel=1e-4, abs=1e-5)
    if kind == "sinks":  # one sink per head: no one-softmax equivalent, and no check made
        assert comparison.equivalence_error is None and "sink" in comparison.not_one_softmax
    else:
        full = full_width_attention(layer.query, layer.key, mask, layer.scaling, layer.bias)
        assert comparison.equivalence_error == pytest.approx((comparison.equivalent - full).abs().max().item(),
                                                             abs=comparison.equivalence_tolerance)
        assert comparison.equivalence_error <= comparison.equivalence_tolerance
