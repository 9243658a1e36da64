"""components.heatmaps: block averages, masked cells, labels that never merge or inject."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from components.heatmaps import (
    POOLED_LABELS,
    attention_map,
    attention_mosaic,
    clickable_cells,
    head_grid,
    kernel_labels,
    labelled_heatmap,
    max_pooled,
    tile_peaks,
)


def test_selected_map_keeps_full_resolution_and_blanks_the_mask():
    w = np.tril(np.full((70, 70), 0.5, np.float32))
    tokens = ["the"] * 70  # repeated tokens must stay 70 distinct rows
    fig = attention_map(w, tokens, mask=np.tril(np.ones((70, 70), bool)))
    z = np.asarray(fig.data[0].z)
    assert z.shape == (70, 70) and np.isnan(z[0, 1]) and z[1, 0] == 0.5
    assert len(set(fig.data[0].x)) == 70


def test_token_text_is_escaped_in_every_label():
    evil = "</script><img src=x onerror=alert(1)>"
    fig = attention_map(np.eye(2, dtype=np.float32), [evil, "ok"], title=evil)
    text = fig.to_json()
    assert "<img" not in text and "</script>" not in text and "&lt;img" in text


def _picture(fig) -> tuple[np.ndarray, np.ndarray]:
    """A tiled figure's picture: (its levels (h, w), 0 = transparent; its (h, w, 4) colours as the browser draws)."""
    source = fig.data[0].source
    assert fig.data[0].type == "image" and source.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    return np.asarray(image), np.asarray(image.convert("RGBA"))


def test_mosaic_has_one_tile_per_layer_and_head():
    tiles = [np.random.default_rng(i).random((3, 5, 5)).astype(np.float32) for i in range(2)]
    tiles[0][0, 0, 0] = 0.0  # the lowest level
    fig = attention_mosaic(tiles, num_heads=3)
    z, colours = _picture(fig)
    assert z.shape == (2 * 5 + 2, 3 * 5 + 2 * 2)
    assert z.max() == 255 and list(fig.layout.xaxis.ticktext) == ["H0", "H1", "H2"]
    assert (z[5:7] == 0).all() and (z[:, 5:7] == 0).all()  # gaps are transparent
    assert (colours[..., 3] == np.where(z == 0, 0, 255)).all()
    top, bottom = colours[z == 255][0], colours[z == 1]
    # Viridis' ends: the top level and the lowest (a zero cell), whose pixels must exist
    assert tuple(top[:3]) == (253, 231, 37) and len(bottom) and all(tuple(c[:3]) == (68, 1, 84) for c in bottom)


@pytest.mark.parametrize("percentile", [0, 37.5, 99, 100])
def test_tile_peaks_are_each_tiles_nanpercentile_and_1_for_a_tile_with_none(percentile):
    rng = np.random.default_rng(3)
    tiles = rng.random((5, 7, 6))
    tiles[1, 2:] = np.nan  # part masked
    tiles[2] = np.nan  # all masked
    tiles[3] = 0.0
    tiles[4, 0, 0], tiles[4, 1:] = 0.25, np.nan  # one allowed cell
    expected = [np.nanpercentile(t, percentile) if np.isfinite(t).any() else 1.0 for t in tiles]
    np.testing.assert_allclose(tile_peaks(tiles, percentile), expected, rtol=1e-12, atol=0)
    single = tiles.astype(np.float32)  # the thumbnails' own precision: what the float64 values of them give
    expected = [np.nanpercentile(t.astype(np.float64), percentile) if np.isfinite(t).any() else 1.0 for t in single]
    np.testing.assert_allclose(tile_peaks(single, percentile), expected, rtol=1e-12, atol=0)


def test_masked_cells_are_transparent_and_each_tile_peaks_at_full_colour():
    causal = np.tril(np.ones((8, 8), bool))
    weights = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32) * causal
    fig = head_grid(np.where(causal, weights, np.nan), columns=2)  # thumbnails: NaN where masked
    z, colours = _picture(fig)
    assert z.shape == (2 * 8 + 2, 2 * 8 + 2) and z.dtype == np.uint8 and (colours[..., 3][z == 0] == 0).all()
    tile = z[:8, :8]
    assert (tile[~causal] == 0).all() and (tile[causal] >= 1).all() and tile.max() == 255
    assert [a.text for a in fig.layout.annotations] == ["H0", "H1", "H2", "H3"]


def test_cells_of_exactly_zero_attention_are_coloured_not_transparent():
    # a one-hot head: block sums of its zeros can come out at -1e-9, which must not read as "masked"
    rng = np.random.default_rng(0)
    weights = rng.random((2, 16, 16)).astype(np.float32) ** 8
    weights[weights < 0.3] = 0
    weights[:, np.arange(16), np.arange(16)] += 0.5  # no empty row
    weights /= weights.sum(-1, keepdims=True)
    z = _picture(head_grid(weights - 1e-9 * (weights == 0), columns=2))[0]
    assert (z[:16, :16] >= 1).all()


def test_clipped_colour_range_keeps_exact_hover_values_and_says_so():
    causal = np.tril(np.ones((20, 20), bool))
    weights = np.where(causal, np.random.default_rng(1).random((20, 20)), 0).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)  # row 0 is exactly 1.0
    fig = attention_map(weights, [f"t{i}" for i in range(20)], mask=causal, clip_percentile=99)
    trace = fig.data[0]
    assert trace.zmax == pytest.approx(np.percentile(weights[causal], 99)) and trace.zmax < 1.0
    assert np.nanmax(np.asarray(trace.z, dtype=float)) == 1.0  # hover still reads the real weight
    assert "p99" in trace.colorbar.title.text
    full = attention_map(weights, [f"t{i}" for i in range(20)], mask=causal)
    assert full.data[0].zmax is None and "p99" not in full.data[0].colorbar.title.text


def test_kernel_labels_name_query_offsets_back_and_key_offsets_around_the_centre():
    rows, columns = kernel_labels(2, 5)
    assert rows == ["q−1", "q−0"] and columns == ["k-2", "k-1", "k+0", "k+1", "k+2"]


def test_clickable_cells_put_one_point_per_cell_row_by_row():
    z = np.arange(6, dtype=float).reshape(2, 3)
    figure = labelled_heatmap(z, ["L0", "L1"], ["H0", "H1", "H2"], value_name="share")
    cells = clickable_cells(figure.data[0])
    index = 1 * 3 + 2  # layer 1, head 2: what the atlas grid reads back from a click
    assert cells.customdata[index] == z[1, 2] and len(cells.x) == 6
    assert cells.y[index] == figure.data[0].y[1] and cells.x[index] == figure.data[0].x[2]
    assert "%{customdata:.4f}" in cells.hovertemplate and "share" in cells.hovertemplate


def test_a_long_map_is_max_pooled_so_one_sharp_weight_stays_visible():
    w = np.zeros((1200, 1200), np.float32)
    w[700, 3] = 0.9  # one sharp weight among 1.44 million cells
    pooled, rows, columns = max_pooled(w, np.tril(np.ones((1200, 1200), bool)), 256)
    assert pooled.shape == (256, 256) and np.nanmax(pooled) == np.float32(0.9)
    block = np.searchsorted(rows, 700, side="right") - 1, np.searchsorted(columns, 3, side="right") - 1
    assert pooled[block] == np.float32(0.9) and np.isnan(pooled[0, -1])  # a block wholly in the future: blank
    figure = attention_map(w, [f"t{i}" for i in range(1200)], mask=np.tril(np.ones((1200, 1200), bool)), title="x")
    assert np.asarray(figure.data[0].z).shape == (256, 256)
    assert "max-pooled to 256×256 blocks" in figure.layout.title.text
    for axis in (figure.layout.xaxis, figure.layout.yaxis):  # few, short ticks: each block's first position
        assert len(axis.ticktext) <= POOLED_LABELS and axis.ticktext[:2] == ("0", "75")  # 1200 / 256 a block
    assert figure.data[0].y[0].startswith("t0… (0–3)") and figure.data[0].x[1].startswith("4–")  # hover: the block
    short = attention_map(w[:40, :40], [f"t{i}" for i in range(40)])
    assert len(short.layout.xaxis.ticktext) == 40  # a map drawn whole labels every token up to 48
