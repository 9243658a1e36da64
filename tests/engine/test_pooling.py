"""models.engine.pooling: block means over allowed cells, the same streamed one head at a time."""

from __future__ import annotations

import torch

from models.engine.pooling import block_counts, block_means, thumbnails
from models.engine.recording import LayerAttention


def test_block_means_are_the_means_of_the_allowed_cells_and_never_upsample():
    w = torch.rand(6, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(block_means(w, block_counts(None, (6, 6), 3)), w.reshape(3, 2, 3, 2).mean((1, 3)))
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    small = block_means(w * causal, block_counts(causal, (6, 6), 3))
    assert small[0, 1].isnan() and small[0, 2].isnan()  # blocks entirely in the future
    torch.testing.assert_close(small[0, 0], (w[0, 0] + w[1, 0] + w[1, 1]) / 3)
    assert block_means(w, block_counts(None, (6, 6), 40)).shape == (6, 6)


def test_thumbnails_one_head_at_a_time_equal_the_block_means_of_the_whole_layer():
    g = torch.Generator().manual_seed(1)
    t, heads = 90, 3
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    layer = LayerAttention("layer", None, None, causal, scaling=0.125, query=torch.randn(heads, t, 16, generator=g),
                           key=torch.randn(heads, t, 16, generator=g), value=torch.randn(heads, t, 16, generator=g))
    whole = layer.weights  # (H, T, T) at once
    expected = block_means(whole, block_counts(causal, (t, t), 40))
    assert expected.shape == (3, 40, 40) and expected[:, 0, -1].isnan().all()
    torch.testing.assert_close(thumbnails(layer, 40), expected, equal_nan=True)
    # and by hand: block (5, 2) of head 1 is the mean of the allowed cells it covers
    rows, columns = slice(11, 13), slice(4, 6)  # edges floor(linspace(0, 90, 41)): block 5 = 11–12, block 2 = 4–5
    torch.testing.assert_close(expected[1, 5, 2], whole[1, rows, columns][causal[rows, columns]].mean())
