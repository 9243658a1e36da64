"""models.mta.kernels: identity is standard attention; nothing flows from the future; masks hold."""

from __future__ import annotations

import pytest
import torch

from models.mta.kernels import (
    MTAttention,
    depth_scale,
    head_mixing,
    identity_kernel,
    key_query_convolution,
)
from tests.tolerance import assert_close32

torch.manual_seed(0)
B, H, T = 2, 4, 9
SCORES = torch.randn(B, H, T, T)
CAUSAL = torch.ones(T, T, dtype=torch.bool).tril()


def _standard(scores, allowed):
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)


@pytest.mark.parametrize("key_padding", ["both", "left", "right"])
@pytest.mark.parametrize("pre_softmax", [True, False])
@pytest.mark.parametrize(("query_padding", "allowed"), [("backward", CAUSAL), ("both", torch.ones(T, T, dtype=bool))])
def test_identity_kernel_gives_exactly_the_standard_map(key_padding, pre_softmax, query_padding, allowed):
    c_q = 3
    kernel = identity_kernel(H, c_q, 5, query_padding, key_padding)
    out = key_query_convolution(SCORES, kernel, allowed, pre_softmax=pre_softmax, query_padding=query_padding,
                                key_padding=key_padding)
    assert_close32(out, _standard(SCORES, allowed), scale=max(SCORES.abs().max().item(), 1.0), terms=c_q * 5)


def test_identity_head_mixing_is_the_identity():
    mixing = torch.eye(2).repeat(H // 2, 1, 1)
    torch.testing.assert_close(head_mixing(SCORES, mixing), SCORES)
    swap = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat(H // 2, 1, 1)
    torch.testing.assert_close(head_mixing(SCORES, swap)[:, 0], SCORES[:, 1])


@pytest.mark.parametrize("pre_softmax", [True, False])
@pytest.mark.parametrize("key_padding", ["both", "left", "right"])
def test_no_information_flows_from_future_keys_or_later_queries(pre_softmax, key_padding):
    kernel = torch.randn(H, 2, 5)  # a random (not identity) kernel
    base = key_query_convolution(SCORES, kernel, CAUSAL, pre_softmax=pre_softmax, key_padding=key_padding)
    for row in range(T - 1):
        changed = SCORES.clone()
        changed[..., row, row + 1 :] += 100.0  # future keys of this row
        changed[..., row + 1 :, :] -= 50.0  # every later query row
        out = key_query_convolution(changed, kernel, CAUSAL, pre_softmax=pre_softmax, key_padding=key_padding)
        torch.testing.assert_close(out[..., : row + 1, :], base[..., : row + 1, :])


def test_post_softmax_masked_entries_stay_zero_and_pre_softmax_rows_sum_to_one():
    kernel = torch.rand(H, 2, 3)
    post = key_query_convolution(SCORES, kernel, CAUSAL, pre_softmax=False)
    assert (post[..., ~CAUSAL] == 0).all()
    pre = key_query_convolution(SCORES, kernel, CAUSAL)
    assert (pre[..., ~CAUSAL] == 0).all()
    torch.testing.assert_close(pre.sum(-1), torch.ones(B, H, T))


def test_even_kernels_cannot_be_centred():
    with pytest.raises(ValueError, match="odd"):
        identity_kernel(H, 2, 4, "backward", "both")


def test_depth_scale_follows_the_paper():
    assert depth_scale(0) == pytest.approx(0.8)  # 1 - (0.8 - 0.6)
    assert depth_scale(100) == pytest.approx(0.2)


def test_an_untrained_mta_layer_is_standard_attention():
    torch.manual_seed(1)
    plain = MTAttention(32, 4)
    mta = MTAttention(32, 4, kernel=(2, 9), mix_heads=2)
    mta.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 11, 32)
    out_plain, w_plain = plain(x)
    out_mta, w_mta = mta(x)
    assert_close32(w_mta, w_plain, scale=1.0, terms=32)  # weights of 8-wide heads over 11 keys
    assert_close32(out_mta, out_plain, terms=32)
    # learning moves it: the kernel gets a gradient
    out_mta.sum().backward()
    assert mta.kernel.grad is not None and mta.kernel.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["identity", "box", "diagonal", "key window"])
def test_presets_sum_to_one_and_identity_reproduces_a_real_capture(minilm, smollm2, name):
    from models.engine.capture import capture_text
    from models.mta.kernels import convolve_layer, kernel_preset

    kernel = kernel_preset(name, 3, 5)
    assert kernel.shape == (3, 5) and kernel.sum().item() == pytest.approx(1.0)
    for loaded in (minilm, smollm2):
        layer = capture_text(loaded, "The cat sat on the mat because it was warm.").layers[1]
        maps = convolve_layer(layer.scores, layer.allowed, kernel)
        assert maps.shape == layer.weights.shape
        assert_close32(maps.sum(-1), torch.ones(maps.shape[:2]), terms=maps.shape[-1])
        if name == "identity":
            scale = max(layer.scores.abs().max().item(), 1.0)
            assert_close32(maps, layer.weights, scale=scale, terms=layer.query.shape[-1])
        if loaded.causal:
            assert (maps[:, ~layer.allowed] == 0).all()
