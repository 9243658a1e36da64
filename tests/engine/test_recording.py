"""The recording engine against transformers' own eager attention, on every family."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import threading

import pytest
import torch
from torch import nn

from models.engine import overview_kernel
from models.engine.overview import attend_with_overview, layer_overview
from models.engine.recording import LayerAttention, _mask_extent, recording
from tests.tiny_models import FAMILY_NAMES, families, more_families
from tests.tolerance import assert_close32

FAMILIES = families()


def _assert_weights(layer, expected, terms=None):
    """Weights equal `expected` up to float32 rounding of logits of size max|scores| over d-term dot products."""
    terms = terms or (layer.query.shape[-1] if layer.query is not None else 1)
    assert_close32(layer.weights, expected, scale=max(layer.scores.abs().max().item(), 1.0), terms=terms)


def _run(model, inputs):
    with torch.inference_mode(), recording(model) as rec:
        out = model(**inputs)
    return rec, out


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_weights_equal_output_attentions(name):
    family = FAMILIES[name]
    lens, eager = family.pair()
    inputs = family.inputs()
    rec, out = _run(lens, inputs)
    with torch.inference_mode():
        ref = eager(**inputs, output_attentions=True)
    assert len(rec.layers) == len(ref.attentions) == 2
    for layer, expected in zip(rec.layers, ref.attentions, strict=True):
        _assert_weights(layer, expected[0])
    first = out.logits if hasattr(out, "logits") else out.last_hidden_state
    torch.testing.assert_close(first, ref.logits if hasattr(ref, "logits") else ref.last_hidden_state)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_scores_and_mask_reproduce_weights(name):
    family = FAMILIES[name]
    lens, _ = family.pair()
    rec, _ = _run(lens, family.inputs())
    for layer in rec.layers + rec.pooling:
        logits = layer.scores if layer.mask is None else layer.scores.masked_fill(~layer.mask, float("-inf"))
        _assert_weights(layer, torch.softmax(logits, -1))
        torch.testing.assert_close(layer.weights.sum(-1), torch.ones(layer.weights.shape[:-1]))


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_decoder_upper_triangle_is_exactly_zero(name):
    lens, _ = FAMILIES[name].pair()
    rec, _ = _run(lens, FAMILIES[name].inputs())
    for layer in rec.layers:
        assert torch.equal(layer.weights.triu(1), torch.zeros_like(layer.weights))
        assert torch.equal(layer.mask, torch.ones_like(layer.mask).tril())


def test_grouped_query_attention_is_reported_per_query_head():
    lens, _ = FAMILIES["llama"].pair()
    rec, _ = _run(lens, FAMILIES["llama"].inputs())
    assert rec.layers[0].weights.shape[0] == 4  # 4 query heads, 2 key/value heads
    assert not torch.equal(rec.layers[0].weights[0], rec.layers[0].weights[1])


def test_siglip2_padding_is_masked_out():
    lens, _ = FAMILIES["siglip2"].pair()
    rec, _ = _run(lens, FAMILIES["siglip2"].inputs())
    for layer in rec.layers + rec.pooling:
        assert layer.mask[:, 12:].sum() == 0 and layer.mask[:, :12].all()
        assert torch.equal(layer.weights[..., 12:], torch.zeros_like(layer.weights[..., 12:]))


@pytest.mark.parametrize("name", ["siglip", "siglip2"])
def test_pooling_head_per_head_weights_average_to_torchs_own(name):
    family = FAMILIES[name]
    lens, _ = family.pair()
    inputs = family.inputs()
    seen = {}
    head = lens.head.attention
    handle = head.register_forward_hook(lambda m, a, k, o: seen.update(avg=o[1]), with_kwargs=True)
    try:
        with torch.inference_mode():
            # the module's own head-averaged weights, asked for explicitly
            hidden = lens.post_layernorm(lens(**inputs, output_hidden_states=True).hidden_states[-1])
            mask = None
            if name == "siglip2":
                mask = torch.zeros(4, 1, 16).masked_fill(~inputs["pixel_attention_mask"].bool()[:, None], -1e30)
            _, averaged = head(lens.head.probe, hidden, hidden, attn_mask=mask, need_weights=True)
    finally:
        handle.remove()
    rec, _ = _run(lens, inputs)
    (pool,) = rec.pooling
    assert pool.weights.shape == (4, 1, 16)
    scale = max(pool.scores.abs().max().item(), 1.0)
    assert_close32(pool.weights.mean(0), averaged[0], scale=scale, terms=8)  # head width 32 / 4
    assert not torch.allclose(pool.weights[0], pool.weights[1])  # per head, not already averaged


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_nothing_stays_attached_even_when_the_forward_raises():
    lens, _ = FAMILIES["siglip"].pair()
    before = _hook_count(lens)
    _run(lens, FAMILIES["siglip"].inputs())
    assert _hook_count(lens) == before
    with pytest.raises(RuntimeError), recording(lens):
        lens(pixel_values=torch.randn(1, 5, 32, 32))  # wrong channel count
    assert _hook_count(lens) == before
    with torch.inference_mode():  # and outside a recording nothing is collected
        lens(**FAMILIES["siglip"].inputs())


def test_recording_refuses_a_model_without_lens_attention():
    _, eager = FAMILIES["bert"].pair()
    with pytest.raises(ValueError, match="attn_implementation"), recording(eager):
        pass


@pytest.mark.parametrize("name", ["bert", "siglip"])
def test_threads_on_one_shared_model_each_get_their_own_maps(name):
    family = FAMILIES[name]
    lens, _ = family.pair()
    seeds = list(range(6))
    serial = {s: _run(lens, family.inputs(s))[0] for s in seeds}
    results, errors = {}, []
    barrier = threading.Barrier(len(seeds))

    def work(seed):
        try:
            barrier.wait()
            for _ in range(3):
                results[seed] = _run(lens, family.inputs(seed))[0]
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for s in seeds:
        got, want = results[s], serial[s]
        assert len(got.layers) == len(want.layers) and len(got.pooling) == len(want.pooling)
        for a, b in zip(got.layers + got.pooling, want.layers + want.pooling, strict=True):
            _assert_weights(a, b.weights)
    assert not torch.equal(results[0].layers[0].weights, results[1].layers[0].weights)


@pytest.mark.parametrize("name", ["llama", "bert"])
def test_a_fast_recording_runs_sdpa_and_keeps_no_map_while_a_slow_one_returns_the_weights(name):
    lens, _ = FAMILIES[name].pair()
    inputs = FAMILIES[name].inputs()
    with torch.inference_mode(), recording(lens) as fast:
        out = lens(**inputs, output_attentions=True)
    assert all(a is None for a in out.attentions)  # SDPA: the weights were never materialised
    with torch.inference_mode(), recording(lens, fast=False) as slow:
        returned = lens(**inputs, output_attentions=True).attentions
    for a, b, weights in zip(fast.layers, slow.layers, returned, strict=True):
        assert a.stored_weights is None and a.stored_scores is None
        _assert_weights(a, weights[0])
        _assert_weights(b, weights[0])
    masks = {id(layer.mask) for layer in fast.layers}
    assert len(masks) == 1  # one mask, shared by every layer: held once


@pytest.mark.parametrize(("name", "padded", "causal"), [("llama", False, True), ("llama", True, False),
                                                         ("bert", False, False)])
def test_sdpa_skips_the_future_only_when_the_mask_hides_nothing_else(name, padded, causal, monkeypatch):
    lens, _ = FAMILIES[name].pair()
    inputs = FAMILIES[name].inputs()
    if padded:  # the first two positions are padding: the mask is no longer plain causal
        inputs["attention_mask"] = inputs["attention_mask"].clone()
        inputs["attention_mask"][0, :2] = 0
    calls, sdpa = [], torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append((kwargs.get("is_causal", False), kwargs.get("attn_mask") is not None))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    with torch.inference_mode(), recording(lens) as fast:
        hidden = lens(**inputs)[0]
    monkeypatch.undo()
    with torch.inference_mode(), recording(lens, fast=False) as slow:
        eager = lens(**inputs)[0]
    assert calls and all(is_causal == causal and not (causal and masked) for is_causal, masked in calls), calls
    assert any(masked for _, masked in calls) == padded  # bert without padding: transformers passes no mask
    assert_close32(hidden, eager)
    for a, b in zip(fast.layers, slow.layers, strict=True):
        assert torch.equal(a.allowed, b.allowed)
        _assert_weights(a, b.weights)


@pytest.mark.parametrize(("name", "padded"), [(name, False) for name in FAMILY_NAMES] + [("llama", True)])
def test_a_layer_pass_runs_the_model_in_place_of_sdpa_and_keeps_what_it_computed(name, padded):
    """The overview's pass inside the forward: the same output as SDPA, one overview per layer equal to the one
    computed afterwards from the recorded layer."""
    lens, _ = FAMILIES[name].pair()
    inputs = FAMILIES[name].inputs()
    if padded:
        inputs["attention_mask"] = inputs["attention_mask"].clone()
        inputs["attention_mask"][0, :2] = 0
    rec, out = _run(lens, inputs)
    with torch.inference_mode(), recording(lens, layer_pass=attend_with_overview) as passing:
        passed = lens(**inputs)
    first = out.logits if hasattr(out, "logits") else out.last_hidden_state
    assert_close32(passed.logits if hasattr(passed, "logits") else passed.last_hidden_state, first)
    if padded:  # rows that attend nothing: each kernel has its own output for them, the model's kernel runs
        assert not passing.passed
        return
    assert len(passing.passed) == len(passing.layers) == len(rec.layers)
    for overview, layer, plain in zip(passing.passed, passing.layers, rec.layers, strict=True):
        _assert_weights(layer, plain.weights)
        again = layer_overview(layer)
        scale = max(layer.scores.abs().max().item(), 1.0)
        assert_close32(overview.entropy, again.entropy, scale=scale, terms=layer.shape[1])
        assert_close32(overview.key_share, again.key_share, scale=1.0, terms=layer.shape[0])
        torch.testing.assert_close(overview.thumbnails, again.thumbnails, equal_nan=True, rtol=1e-4, atol=1e-6)


def _wide(name: str):
    """A tiny family with heads of width 32, the compiled walk's case (the tiny families' heads are 8 wide)."""
    family = FAMILIES[name]
    config = copy.deepcopy(family.config)
    for key in ("hidden_size", "n_embd"):
        if hasattr(config, key):
            setattr(config, key, 128)
    if hasattr(config, "intermediate_size"):
        config.intermediate_size = 256
    if getattr(config, "head_dim", None):  # set from the width when the config was made
        config.head_dim = 32
    return dataclasses.replace(family, config=config)


@pytest.mark.parametrize(("name", "padding"), [("bert", None), ("bert", "left"), ("llama", None), ("gpt2", None),
                                               ("vit", None)])
def test_the_compiled_walk_runs_the_model_in_place_of_sdpa(name, padding):
    """Heads of width 32: the pass inside the forward is the compiled walk (grouped and rotary heads, a causal
    mask, left padding that leaves keys out of every row, a vision encoder), with SDPA's output and torch's
    overview."""
    if not overview_kernel.available():
        assert shutil.which("cc") is None, "a C compiler is here, yet the compiled walk did not build"
        pytest.skip("no C compiler here: the compiled walk cannot be built")
    family = _wide(name)
    lens, _ = family.pair()
    inputs = family.inputs()
    if padding:
        inputs["attention_mask"] = inputs["attention_mask"].clone()
        inputs["attention_mask"][0, :2] = 0  # keys 0 and 1 hidden from every query: a mask that is no reach
    rec, out = _run(lens, inputs)
    with torch.inference_mode(), recording(lens, layer_pass=attend_with_overview) as passing:
        passed = lens(**inputs)
    first = out.logits if hasattr(out, "logits") else out.last_hidden_state
    assert_close32(passed.logits if hasattr(passed, "logits") else passed.last_hidden_state, first)
    assert len(passing.passed) == len(passing.layers) == len(rec.layers) == 2
    for overview, layer in zip(passing.passed, passing.layers, strict=True):
        assert overview_kernel.supports(layer) and layer.query.shape[-1] == 32
        if padding:
            assert not bool(layer.mask[:, :2].any()) and bool(layer.mask[:, 2:].all())
        by_torch = layer_overview(layer, compiled=False)
        scale = max(layer.scores.abs().max().item(), 1.0)
        assert_close32(overview.entropy, by_torch.entropy, scale=scale, terms=layer.shape[1])
        assert_close32(overview.distance, by_torch.distance, scale=float(layer.shape[1]), terms=layer.shape[1])
        assert_close32(overview.key_share, by_torch.key_share, scale=1.0, terms=layer.shape[0])
        torch.testing.assert_close(overview.thumbnails, by_torch.thumbnails, equal_nan=True, rtol=1e-4, atol=1e-6)


def test_a_layer_pass_is_not_run_where_sdpa_cannot_run():
    """Gemma 2 soft-caps its scores: its layers run eager, so no pass (and no overview) is made for them."""
    family = more_families()["gemma2"]
    lens, _ = family.pair()
    with torch.inference_mode(), recording(lens, layer_pass=attend_with_overview) as rec:
        lens(**family.inputs())
    assert rec.layers and not rec.passed


def test_a_blocks_reach_and_first_masked_key_are_read_from_the_mask():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(300, 260, generator=g) > 0.7
    mask[5] = False  # a row that may attend nothing
    mask[7] = True  # one that may attend everything
    first, last = _mask_extent(mask)
    for row in range(300):
        allowed = mask[row].nonzero().flatten()
        assert last[row] == (allowed.max() if len(allowed) else -1)
        blocked = (~mask[row]).nonzero().flatten()
        assert first[row] == (blocked.min() if len(blocked) else 260)
    layer = LayerAttention("layer", None, None, mask, scaling=1.0, query=torch.zeros(1, 300, 2),
                           key=torch.zeros(1, 260, 2), value=torch.zeros(1, 260, 2))
    assert layer.reach(slice(0, 10)) == int(mask[:10].any(0).nonzero().max()) + 1
    assert layer.reach(torch.tensor([5])) == 1  # nothing allowed: one key, all masked
