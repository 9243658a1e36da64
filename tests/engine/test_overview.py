"""models.engine.overview: every head's numbers and thumbnail from one pass by rows equal the plain formulas on
whole maps, and the pass that also attends gives the layer's output."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from models.engine import overview as overview_module
from models.engine import overview_kernel
from models.engine.overview import attend_with_overview, layer_overview, row_entropy
from models.engine.pooling import thumbnails
from models.engine.recording import LAYER_ROW_BLOCK, LayerAttention
from tests.tolerance import assert_close32


def _layer(tq: int, tk: int, heads: int, kv: int, mask: torch.Tensor | None, seed: int = 0,
           d: int = 32) -> LayerAttention:
    g = torch.Generator().manual_seed(seed)
    return LayerAttention("layer", None, None, mask, scaling=0.3 * (8 / d) ** 0.5,
                          query=2 * torch.randn(heads, tq, d, generator=g), key=torch.randn(kv, tk, d, generator=g),
                          value=torch.randn(kv, tk, d, generator=g))


def _padded_causal(t: int, padding: int) -> torch.Tensor:
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    mask[:, :padding] = False  # left padding: the first rows attend nothing
    return mask


CASES = {
    # several blocks of rows, the last one short (and tiles of the compiled walk); grouped heads; rows that attend
    # nothing; a mask that is not each row's first keys (the compiled walk reads it cell by cell)
    "padded causal, grouped": lambda: _layer(3 * LAYER_ROW_BLOCK + 21, 3 * LAYER_ROW_BLOCK + 21, 6, 2,
                                             _padded_causal(3 * LAYER_ROW_BLOCK + 21, 5)),
    "bidirectional, no mask": lambda: _layer(150, 150, 3, 3, None, seed=1),
    # queries are the last Tq of Tk positions (keys include a cache): distances count from there
    "cached keys": lambda: _layer(70, 100, 4, 2, torch.ones(70, 100, dtype=torch.bool).tril(30), seed=2),
    "causal, head size 64": lambda: _layer(45, 45, 3, 1, torch.ones(45, 45, dtype=torch.bool).tril(), seed=3, d=64),
    "head size 8 (torch's walk only)": lambda: _layer(40, 40, 2, 2, None, seed=4, d=8),
}
WALKED = [(case, walk) for case in CASES for walk in ("torch", "compiled")
          if walk == "torch" or CASES[case]().query.shape[-1] % overview_kernel.VECTOR == 0]  # what each walk takes


@pytest.fixture(params=["torch", "compiled"])
def walk(request, monkeypatch):
    """Each case walked by torch, and by the compiled kernel (which must be there when a C compiler is)."""
    if request.param == "torch":
        monkeypatch.setattr(overview_kernel, "available", lambda: False)
    elif shutil.which("cc") is None and not overview_kernel.available():
        pytest.skip("no C compiler here: the compiled walk cannot be built")
    else:
        assert overview_kernel.available(), "a C compiler is here, yet the compiled walk did not build"
    return request.param


def _case(case: str, walk: str) -> LayerAttention:
    layer = CASES[case]()
    assert walk == "torch" or overview_kernel.supports(layer)  # the compiled walk really runs this case
    return layer


@pytest.mark.parametrize(("case", "walk"), WALKED, indirect=["walk"])
def test_the_overview_walked_by_rows_equals_the_formulas_on_whole_maps(case, walk):
    layer = _case(case, walk)
    tq, tk = layer.shape
    overview = layer_overview(layer, thumb=40)
    w = layer.weights.double()  # (H, Tq, Tk) whole, the plain definitions
    distance = (torch.arange(tq)[:, None] + (tk - tq) - torch.arange(tk)[None, :]).abs().double()
    scale = max(layer.scores.abs().max().item(), 1.0)
    assert_close32(overview.entropy, (-torch.special.xlogy(w, w).sum(-1).mean(-1) / math.log(2)), scale=scale,
                   terms=tk)
    assert_close32(overview.distance, (w * distance).sum(-1).mean(-1), scale=float(tk), terms=tk * 8)
    assert_close32(overview.key_share, w.mean(1), scale=1.0, terms=tq * 8)
    torch.testing.assert_close(overview.thumbnails, thumbnails(layer, 40), equal_nan=True, rtol=1e-4, atol=1e-6)
    assert layer_overview(layer, thumb=None).thumbnails is None


@pytest.mark.parametrize(("case", "walk"), WALKED, indirect=["walk"])
def test_the_pass_that_attends_gives_the_layers_output_and_the_same_overview(case, walk):
    layer = _case(case, walk)
    overview, context = attend_with_overview(layer, thumb=40)  # (Tq, H, d)
    group = layer.num_heads // layer.value.shape[0]
    expected = (layer.weights @ layer.value.repeat_interleave(group, 0)).transpose(0, 1)  # softmax(...) v, whole
    assert_close32(context, expected, scale=layer.value.abs().max().item(), terms=layer.shape[1])
    alone = layer_overview(layer, thumb=40)
    torch.testing.assert_close(overview.entropy, alone.entropy)
    torch.testing.assert_close(overview.thumbnails, alone.thumbnails, equal_nan=True)


def test_a_row_with_nothing_allowed_has_zero_entropy_not_nan(walk):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    mask[2] = False  # a row that may attend nothing
    layer = LayerAttention("layer", None, None, mask, scaling=0.5, query=torch.randn(2, 5, 32, generator=g),
                           key=torch.randn(2, 5, 32, generator=g), value=torch.randn(2, 5, 32, generator=g))
    weights, logits = layer.head_softmax(0)
    assert logits is not None and (weights[2] == 0).all()
    entropy = row_entropy(weights, logits)
    assert entropy[2] == 0 and entropy.isfinite().all()
    torch.testing.assert_close(entropy, row_entropy(weights))
    overview, context = attend_with_overview(layer)
    assert overview.entropy.isfinite().all() and (context[2] == 0).all()


@pytest.mark.parametrize(("case", "walk"), WALKED, indirect=["walk"])
def test_the_overview_split_across_cores_equals_the_one_walked_in_place(case, walk, monkeypatch):
    """Torch's walk: each core sums its own blocks; added in a fixed order, the result is the same every time, and
    equals one core's walk within float32 rounding (inside a forward pass too, here split from the first row). The
    compiled walk gives each core whole heads, so one core's numbers are the same bits as two's."""
    monkeypatch.setattr(overview_module, "SPLIT_IN_FORWARD", 0)
    layer = _case(case, walk)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone, alone_context = attend_with_overview(layer, thumb=40)
        torch.set_num_threads(2)
        split, split_context = attend_with_overview(layer, thumb=40)
        again, again_context = attend_with_overview(layer, thumb=40)
        second_pass = layer_overview(layer, thumb=40)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(split_context, again_context)
    for name in ("entropy", "distance", "key_share", "thumbnails"):
        assert torch.equal(getattr(split, name).nan_to_num(-1), getattr(again, name).nan_to_num(-1)), name
        assert torch.equal(getattr(split, name).nan_to_num(-1), getattr(second_pass, name).nan_to_num(-1)), name
        torch.testing.assert_close(getattr(split, name), getattr(alone, name), rtol=1e-5, atol=1e-7, equal_nan=True)
        if walk == "compiled":
            assert torch.equal(getattr(split, name).nan_to_num(-1), getattr(alone, name).nan_to_num(-1)), name
    torch.testing.assert_close(split_context, alone_context, rtol=1e-5, atol=1e-6)
    if walk == "compiled":
        assert torch.equal(split_context, alone_context)
