"""models.mta.kernels: identity is standard attention; nothing flows from the future; masks hold."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from models.mta.kernels import (
    MTAttention,
    depth_scale,
    from_official,
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


def test_head_mixing_reads_its_matrix_as_the_official_head_convolution():
    mixing = torch.zeros(H // 2, 2, 2)
    mixing[:, 0, 1] = 1.0  # official: output head 1 of each pair takes input head 0
    mixed = head_mixing(SCORES, mixing)
    torch.testing.assert_close(mixed[:, 1], SCORES[:, 0])
    assert (mixed[:, 0] == 0).all()


def _official_attention(state: dict, x: torch.Tensor, heads: int, layer_id: int, rescale: bool) -> torch.Tensor:
    """The official MTA attention forward (facebookresearch/RAM projects/mta/mta_transformer.py, Attention.forward
    with use_mta, no RoPE, no dropout), written out from its code with its parameter names and layouts."""
    b, t, dim = x.shape
    d = dim // heads
    xq, xk, xv = (F.linear(x, state[f"{n}.weight"]).view(b, t, heads, d).transpose(1, 2) for n in ("wq", "wk", "wv"))
    mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1).repeat(b, heads, 1, 1)
    scores = xq @ xk.transpose(2, 3) * d ** -0.5

    def mta_convolution(scores, kernel):
        scores = scores.clone()
        scores[mask == float("-inf")] = 0
        _, head_kernel_size, qdim, kdim = kernel.shape
        padded = F.pad(scores, ((kdim - 1) // 2, (kdim - 1) // 2, qdim - 1, 0), value=0.0)
        return F.conv2d(padded, kernel, padding=0, groups=heads // head_kernel_size)

    if "mta_kernel" in state:
        scores = mta_convolution(scores, state["mta_kernel"])
    if "wpsm.weight" in state:
        scores = F.linear(scores.transpose(1, -1), state["wpsm.weight"]).transpose(1, -1)
    scores = F.softmax(scores + mask, dim=-1)
    if "mta_kernel_after_sm" in state:
        scores = mta_convolution(scores, state["mta_kernel_after_sm"])
        scores = torch.where(mask == float("-inf"), 0.0, scores)
    if "head_kernel" in state:
        kernel = state["head_kernel"]
        groups, size = kernel.shape[0], kernel.shape[1]
        grouped = scores.reshape(b, groups, size, t, -1)
        new = torch.empty_like(grouped)
        for i in range(groups):
            new[:, i] = torch.matmul(grouped[:, i].transpose(1, -1), kernel[i]).transpose(1, -1)
        scores = new.reshape(b, heads, t, -1)
    elif "wposm.weight" in state:
        scores = F.linear(scores.transpose(1, -1), state["wposm.weight"]).transpose(1, -1)
    output = (scores @ xv).transpose(1, 2)  # B S H D
    if "subln.weight" in state:
        output = output * torch.rsqrt(output.pow(2).mean(-1, keepdim=True) + 1e-5) * state["subln.weight"]
        if rescale:
            output = output * (1 - (0.8 - 0.6 * math.exp(-0.3 * layer_id)))
    return F.linear(output.reshape(b, t, dim), state["wo.weight"])


OFFICIAL_FORMS = {  # the official forms: (extra parameters as the official code shapes them, MTAttention arguments)
    "pre-softmax (toy)": ({"mta_kernel": (H, 1, 2, 9)}, {"kernel": (2, 9)}),
    "pre-softmax + head mixing before softmax (LM)": (
        {"mta_kernel": (H, 1, 2, 5), "wpsm.weight": (H, H)}, {"kernel": (2, 5), "pre_mixing": True}),
    "pre + post combined + head convolution + group norm": (
        {"mta_kernel": (H, 1, 2, 5), "mta_kernel_after_sm": (H, 1, 3, 3), "head_kernel": (H // 2, 2, 2),
         "subln.weight": (8,)}, {"kernel": (2, 5), "post_kernel": (3, 3), "mix_heads": 2, "group_norm": True}),
    "post-softmax linear head + rescaled group norm": (
        {"mta_kernel_after_sm": (H, 1, 2, 3), "wposm.weight": (H, H), "subln.weight": (8,)},
        {"post_kernel": (2, 3), "mix_heads": H, "group_norm": True, "rescale": True}),
}


@pytest.mark.parametrize("form", list(OFFICIAL_FORMS))
def test_official_weights_load_and_give_the_official_output(form):
    shapes, arguments = OFFICIAL_FORMS[form]
    dim, layer_id = 32, 2
    generator = torch.Generator().manual_seed(3)
    state = {f"{n}.weight": torch.randn(dim, dim, generator=generator) * dim ** -0.5 for n in ("wq", "wk", "wv", "wo")}
    state |= {name: torch.randn(shape, generator=generator) for name, shape in shapes.items()}
    ours = MTAttention(dim, H, layer_id, **arguments)
    ours.load_state_dict(from_official(state))
    x = torch.randn(2, 11, dim, generator=generator)
    expected = _official_attention(state, x, H, layer_id, arguments.get("rescale", False))
    with torch.no_grad():
        output, _ = ours(x)
    assert_close32(output, expected, scale=expected.abs().max().item(), terms=dim * 11)


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
    mta = MTAttention(32, 4, kernel=(2, 9), post_kernel=(2, 3), pre_mixing=True, mix_heads=2)
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
