"""models.head.attention: orthogonal start, per-head weights that are distributions."""

from __future__ import annotations

import pytest
import torch

from models.head.attention import HeadAttention, orthogonal_linear
from models.head.head import AttentionHead, HeadConfig
from tests.tolerance import assert_close32


@pytest.mark.parametrize(("dim_in", "dim_out"), [(48, 48), (48, 32), (32, 64)])
def test_orthogonal_linear_starts_orthonormal(dim_in, dim_out):
    w = orthogonal_linear(dim_in, dim_out).weight.detach()  # (out, in)
    small = w @ w.T if dim_out <= dim_in else w.T @ w
    assert_close32(small, torch.eye(min(dim_in, dim_out)), terms=max(dim_in, dim_out))


def test_every_projection_of_a_new_head_is_orthogonal():
    head = AttentionHead(HeadConfig(dim=48, keep=8, heads=4, sizes=(16, 32)))
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2 + 2 * 4 + 1  # reducer q k; attention norm and pooling q k v out; projection
    for layer in linears:
        w = layer.weight.detach()
        small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        assert_close32(small, torch.eye(min(w.shape)), terms=max(w.shape))


def test_weights_are_per_head_distributions_in_float32_even_for_half_inputs():
    attention = HeadAttention(32, 4).half()
    out, weights = attention(torch.randn(2, 3, 32).half(), torch.randn(2, 7, 32).half())
    assert out.shape == (2, 3, 32) and weights.shape == (2, 4, 3, 7) and weights.dtype == torch.float32
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 3))
