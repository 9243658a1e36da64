"""The packs at length: a capture holds q, k, v and one mask, never the maps, and the maps it computes on demand
equal transformers' own eager attention at 2,048 tokens (SmolLM2) and 512 (MiniLM). Both are captured as the Text
page captures them: with the overview computed in the forward pass (the SDPA path is checked on the packs in
test_capture.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from models.engine import overview_kernel
from models.engine.budget import held_bytes
from models.engine.capture import capture_text
from models.engine.loading import model_class
from models.engine.overview import layer_overview
from tests.tolerance import assert_close32

TEXT = (Path(__file__).resolve().parents[2] / "README.md").read_text() * 3  # a long real text


def _eager_weights(loaded, tokens: int, layers: list[int]) -> dict[int, torch.Tensor]:
    """The weights eager attention computes in `layers`, caught by hooks (output_attentions would hold all)."""
    eager = model_class(loaded.model.config).from_pretrained(loaded.source, attn_implementation="eager").eval()
    caught = {}
    modules = eager.encoder.layer if hasattr(eager, "encoder") else eager.layers
    hooks = [(m.attention.self if hasattr(m, "attention") else m.self_attn).register_forward_hook(
        lambda module, args, out, i=i: caught.__setitem__(i, out[1][0])) for i, m in enumerate(modules)
        if i in layers]
    encoded = loaded.processor(TEXT, return_tensors="pt", truncation=True, max_length=tokens)
    with torch.inference_mode():
        eager(**encoded)
    for hook in hooks:
        hook.remove()
    return caught


def _assert_lazy_equals_eager(loaded, tokens: int, layers: list[int]):
    capture = capture_text(loaded, TEXT, max_tokens=tokens, overview=True)
    assert capture.seq_len == tokens
    assert abs(capture.nbytes - held_bytes(loaded.model.config, tokens)) <= 0.02 * capture.nbytes  # linear + a mask
    expected = _eager_weights(loaded, tokens, layers)
    for index in layers:
        layer = capture.layers[index]
        assert layer.stored_weights is None
        scale = max(layer.scores.abs().max().item(), 1.0)
        width = layer.query.shape[-1]
        # the capture ran on SDPA (or the overview's pass), eager on its own kernels: the hidden states entering a
        # layer differ by rounding that grows with depth, so the bound grows with the layer's index
        assert_close32(layer.weights, expected[index], scale=scale, terms=width * (index + 1))
        assert_close32(layer.head_weights(2), expected[index][2], scale=scale, terms=width * (index + 1))
        # the overview the forward pass computed (compiled where a C compiler is) = torch's walk over the same
        # layer's maps afterwards
        assert overview_kernel.supports(layer) and (overview_kernel.available() or overview_kernel._compiler() is None)
        again = layer_overview(layer, compiled=False)
        assert_close32(capture.overview[index].entropy, again.entropy, scale=scale, terms=tokens)
        assert_close32(capture.overview[index].distance, again.distance, scale=float(tokens), terms=tokens * 8)
        assert_close32(capture.overview[index].key_share, again.key_share, scale=1.0, terms=tokens * 8)
        torch.testing.assert_close(capture.overview[index].thumbnails, again.thumbnails, equal_nan=True,
                                   rtol=1e-4, atol=1e-6)
    return capture


def test_smollm2_at_2048_tokens_holds_q_k_v_and_gives_the_eager_weights(smollm2):
    capture = _assert_lazy_equals_eager(smollm2, 2048, [0, 15, 29])
    assert capture.overview is not None and len(capture.overview) == capture.num_layers
    assert capture.nbytes < 0.5 * 2**30  # today's eager capture held 4.5 GB of maps at this length


def test_minilm_at_512_tokens_gives_the_eager_weights(minilm):
    _assert_lazy_equals_eager(minilm, 512, [0, 3, 5])
