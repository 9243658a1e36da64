"""Attention arrays -> plotly heatmaps: the layers x heads overview and one map in full."""

from __future__ import annotations

import base64
import functools
import html
import io
import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
import plotly.colors as px_colors
import plotly.graph_objects as go
from PIL import Image

MASKED_COLOR = "rgba(150,150,150,0.25)"
COLORSCALE = "Viridis"
TILE_PERCENTILE = 99  # thumbnails: one cell at 1.0 (a causal map's first row) must not darken all the rest
MAX_CELLS = 512  # a map drawn at full resolution up to this many tokens a side (~1.4 MB)...
OVERVIEW_BLOCKS = 256  # ...and max-pooled into at most this many blocks a side beyond (~0.4 MB)
POOLED_LABELS = 16  # tick labels a side of a max-pooled map, each a block's first position; hover names the block


@functools.cache
def _tile_palette() -> list[int]:
    """RGB of each level of a tiled image: 0 (masked, gaps) drawn transparent, 1..255 along the colour scale."""
    ramp = px_colors.sample_colorscale(COLORSCALE, np.linspace(0, 1, 255).tolist())
    return [0, 0, 0] + [int(round(float(v))) for colour in ramp for v in px_colors.unlabel_rgb(colour)]


def _png_source(levels: np.ndarray) -> str:
    """A (h, w) uint8 image of levels as a palette PNG data URI: 1 byte a cell before compression, drawn by the browser
    as a picture (SmolLM2's 30 × 9 mosaic: 207 kB and 33 ms to draw, against 648 kB and 84 ms as a heatmap)."""
    image = Image.fromarray(levels, "P")
    image.putpalette(_tile_palette())
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0, compress_level=1)  # 2.4-3.8x faster than the default 6, 3-11 % larger
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def tile_peaks(tiles: np.ndarray, percentile: float = TILE_PERCENTILE) -> np.ndarray:
    """(N,) the `percentile` of each of (N, …) tiles over its finite cells, as np.nanpercentile's linear method;
    1 where a tile has none. One sort for all tiles instead of one nanpercentile call each."""
    flat = np.sort(tiles.reshape(len(tiles), -1), axis=1)  # NaN sort last; in the tiles' own precision (float32:
    # twice as fast), the order and the values picked being those of float64
    count = np.isfinite(flat).sum(1)
    position = np.maximum(count - 1, 0) * (percentile / 100)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    rows = np.arange(len(tiles))
    low, high = flat[rows, below].astype(np.float64), flat[rows, above].astype(np.float64)
    peaks = low + (high - low) * (position - below)
    return np.where(count > 0, peaks, 1.0)


def _tiled(tiles: Sequence[np.ndarray], columns: int, gap: int = 2) -> np.ndarray:
    """Tiles (each scaled to its own maximum) in a grid of `columns`, as one uint8 image: 0 masked, 1..255 the
    level. Quantised to 255 levels, it is sent as a picture — thumbnails carry no hover values."""
    tiles = np.stack(tiles)  # (N, h, w)
    peaks = tile_peaks(tiles)
    stack = tiles.astype(np.float64)
    count, h, w = stack.shape
    level = np.clip(np.nan_to_num(stack / np.where(peaks == 0, 1.0, peaks)[:, None, None]), 0, 1)  # sums dip to -1e-9
    quantised = np.where(np.isnan(stack), 0, 1 + np.rint(level * 254)).astype(np.uint8)  # masked -> 0, transparent
    rows = -(-count // columns)
    canvas = np.zeros((rows * (h + gap) - gap, columns * (w + gap) - gap), np.uint8)
    for index in range(count):
        r, c = divmod(index, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = quantised[index]
    return canvas


def _tiles_figure(canvas: np.ndarray, xaxis: dict, yaxis: dict, **layout) -> go.Figure:
    """The tiled image as a figure (a picture: cell (i, j) spans i ± 0.5, j ± 0.5 as a heatmap's would), built in one
    call (plotly validates each later update again)."""
    return go.Figure(dict(
        data=[dict(type="image", source=_png_source(canvas), hoverinfo="skip")],
        layout=dict(xaxis=dict(showgrid=False, zeroline=False, side="top", constrain="domain") | xaxis,
                    yaxis=dict(autorange="reversed", showgrid=False, zeroline=False, scaleanchor="x",
                               constrain="domain") | yaxis,
                    plot_bgcolor=MASKED_COLOR, margin=dict(l=40, r=10, t=40, b=10)) | layout,
    ))


def attention_mosaic(tiles: Iterable[np.ndarray], num_heads: int, gap: int = 2) -> go.Figure:
    """All layers x heads as one tiled image: row = layer, column = head, each scaled to its own maximum.

    `tiles`: each layer's (H, t, t) thumbnails (block means, NaN where masked; see models.engine.pooling), which
    may come from a generator: no layer's full maps are needed here.
    """
    every = [tile for layer_tiles in tiles for tile in layer_tiles]
    (h, w), layers = every[0].shape, len(every) // num_heads
    step_y, step_x = h + gap, w + gap
    return _tiles_figure(
        _tiled(every, num_heads, gap),
        xaxis=dict(tickmode="array", tickvals=[hi * step_x + step_x / 2 - 1 for hi in range(num_heads)],
                   ticktext=[f"H{hi}" for hi in range(num_heads)]),
        yaxis=dict(tickmode="array", tickvals=[li * step_y + step_y / 2 - 1 for li in range(layers)],
                   ticktext=[f"L{li}" for li in range(layers)]),
        height=int(min(1500, max(250, 70 + 480 * layers / num_heads))),  # tiles stay square
    )


def head_grid(tiles: np.ndarray, columns: int = 4, gap: int = 2) -> go.Figure:
    """One layer's (H, t, t) thumbnails side by side (wrapped into rows of `columns`), each labelled and scaled to
    its maximum."""
    num_heads, h, w = tiles.shape
    label = dict(showarrow=False, xanchor="left", yanchor="top", font=dict(color="white", size=11),
                 bgcolor="rgba(0,0,0,0.45)")
    rows = -(-num_heads // columns)
    return _tiles_figure(
        _tiled(list(tiles), columns, gap), xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False),
        annotations=[dict(x=(hi % columns) * (w + gap), y=(hi // columns) * (h + gap), text=f"H{hi}", **label)
                     for hi in range(num_heads)],
        height=int(min(1100, 60 + 560 * rows / columns)), margin=dict(l=5, r=5, t=10, b=5),
    )


def _unique_labels(tokens: Sequence[str]) -> list[str]:
    """Category labels that stay apart when a token repeats: 'the·3'. Escaped for plotly's HTML-ish text."""
    return [f"{html.escape(t)}·{i}" for i, t in enumerate(tokens)]


def kernel_labels(c_q: int, c_k: int) -> tuple[list[str], list[str]]:
    """Names of an MTA kernel's (c_q, c_k) rows, query offsets back, and columns, key offsets: 'q−1', 'k+0'."""
    return [f"q−{c_q - 1 - i}" for i in range(c_q)], [f"k{j - c_k // 2:+d}" for j in range(c_k)]


def _colorbar_title(*parts: str) -> str:
    """The colour bar's title in short lines: a long one would take the width of a narrow map."""
    return "<br>".join(html.escape(line) for part in parts if part for line in textwrap.wrap(part, 16))


def labelled_heatmap(
    z: np.ndarray,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    *,
    title: str = "",
    value_name: str = "attention",
    row_title: str = "query (attending)",
    column_title: str = "key (attended to)",
    colorscale: str = COLORSCALE,
    zmin: float | None = 0.0,
    zmid: float | None = None,
    zmax: float | None = None,
    max_labels: int = 48,
    colorbar_note: str = "",
    ticks: tuple[Sequence[str], Sequence[str]] | None = None,
) -> go.Figure:
    """Any labelled matrix at full resolution: hover names row, column and value; NaN cells left blank. `ticks`:
    shorter (row, column) texts for the axis ticks than the labels hover shows."""
    ys, xs = _unique_labels(row_labels), _unique_labels(column_labels)
    n = max(len(xs), len(ys))
    step = max(1, -(-n // max_labels))  # label every row/column up to max_labels, then thin out (hover names each)
    row_ticks, column_ticks = ticks or (row_labels, column_labels)
    return go.Figure(dict(  # built in one call: plotly validates every later update again (18 ms -> 5 ms at 512²)
        data=[dict(
            type="heatmap", z=z, x=xs, y=ys, colorscale=colorscale, zmin=zmin, zmid=zmid, zmax=zmax,
            hovertemplate=f"{row_title.split()[0]} %{{y}}<br>{column_title.split()[0]} %{{x}}<br>"
                          f"{html.escape(value_name)} %{{z:.4f}}<extra></extra>",
            colorbar=dict(title=dict(text=_colorbar_title(value_name, colorbar_note)), thickness=12),
        )],
        layout=dict(
            xaxis=dict(tickmode="array", tickvals=xs[::step], ticktext=[html.escape(t) for t in column_ticks[::step]],
                       tickangle=-60, side="top", title=dict(text=column_title), type="category"),
            yaxis=dict(tickmode="array", tickvals=ys[::step], ticktext=[html.escape(t) for t in row_ticks[::step]],
                       autorange="reversed", title=dict(text=row_title), type="category"),
            title=dict(text=html.escape(title), y=0.995, yanchor="top", font=dict(size=13)),
            height=int(min(900, max(420, 18 * n + 160))), margin=dict(l=10, r=10, t=140, b=10),
            plot_bgcolor=MASKED_COLOR,
        ),
    ))


def difference_map(z: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], title: str,
                   value_name: str = "Δ weight", max_cells: int = MAX_CELLS,
                   overview_blocks: int = OVERVIEW_BLOCKS) -> go.Figure:
    """A signed (Tq, Tk) difference, white at 0, red up, blue down, on a range symmetric about 0; NaN left blank.
    Past `max_cells` a side, each block shows its largest change up or down, whichever is larger."""
    labels, ticks = 48, None
    if max(z.shape) > max_cells:
        known = np.isfinite(z)
        up, starts_q, starts_k = max_pooled(z, known, overview_blocks)
        down = -max_pooled(-z, known, overview_blocks)[0]
        z = np.where(np.nan_to_num(-down) > np.nan_to_num(up), down, up)
        row_labels, column_labels = _block_labels(row_labels, starts_q), _block_labels(column_labels, starts_k, False)
        title, value_name = f"{title} · max-pooled to {len(starts_q)}×{len(starts_k)} blocks", f"largest {value_name}"
        labels, ticks = POOLED_LABELS, ([str(a) for a in starts_q], [str(a) for a in starts_k])
    finite = np.abs(z[np.isfinite(z)])
    peak = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return labelled_heatmap(z, row_labels, column_labels, title=title, value_name=value_name, colorscale="RdBu_r",
                            zmin=-peak, zmid=0.0, zmax=peak, max_labels=labels, ticks=ticks)


def max_pooled(weights: np.ndarray, mask: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Tq, Tk) -> at most size x size blocks, each the largest allowed weight in it (NaN where all are masked),
    so one sharp weight stays visible; with the first query and key of each block (a block ends where the next
    starts)."""
    tq, tk = weights.shape
    starts_q = np.linspace(0, tq, min(size, tq) + 1).astype(int)[:-1]
    starts_k = np.linspace(0, tk, min(size, tk) + 1).astype(int)[:-1]
    z = weights.astype(np.float32, copy=True)
    if mask is not None:
        z[~mask] = -np.inf
    pooled = np.maximum.reduceat(np.maximum.reduceat(z, starts_q, axis=0), starts_k, axis=1)
    pooled[np.isneginf(pooled)] = np.nan
    return pooled, starts_q, starts_k


def _block_labels(tokens: Sequence[str], starts: np.ndarray, first_token: bool = True) -> list[str]:
    """A block's positions ("96–103"), after its first token unless `first_token` is False (slanted key ticks)."""
    ends = [*starts[1:], len(tokens)]
    spans = [f"{a}–{b - 1}" if b - a > 1 else f"{a}" for a, b in zip(starts, ends, strict=True)]
    return [f"{tokens[a]}… ({span})" for a, span in zip(starts, spans, strict=True)] if first_token else spans


def attention_map(
    weights: np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    mask: np.ndarray | None = None,
    title: str = "",
    value_name: str = "attention",
    segment_start: int | None = None,
    clip_percentile: float | None = None,
    max_labels: int = 48,
    max_cells: int = MAX_CELLS,
    overview_blocks: int = OVERVIEW_BLOCKS,
) -> go.Figure:
    """One (Tq, Tk) map: token labels, hover values, masked cells left blank; at full resolution up to `max_cells`
    tokens a side, beyond that max-pooled into `overview_blocks` blocks a side (hover names each block's tokens and
    its largest weight).

    `segment_start`: first token of a sentence pair's second segment; the boundary is drawn on both axes.
    `clip_percentile`: the colour saturates at this percentile of the allowed cells (hover keeps exact values).
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    if max(weights.shape) > max_cells:
        z, starts_q, starts_k = max_pooled(weights, mask, overview_blocks)
        query_tokens, key_tokens = _block_labels(query_tokens, starts_q), _block_labels(key_tokens, starts_k, False)
        ticks = [str(a) for a in starts_q], [str(a) for a in starts_k]  # first position of each block
        mask, value_name = None, f"largest {value_name} in the block"
        title = f"{title} · max-pooled to {len(starts_q)}×{len(starts_k)} blocks" if title else title
        max_labels = min(max_labels, POOLED_LABELS)
        segment_start = None if segment_start is None else int(np.searchsorted(starts_q, segment_start))
    else:
        z, ticks = weights.astype(np.float32, copy=True), None
    if mask is not None:
        z[~mask] = np.nan  # masked: no attention is possible there, not "zero attention"
    zmax, note = None, ""
    if clip_percentile is not None and np.isfinite(z).any():
        top, peak = np.nanpercentile(z, clip_percentile), np.nanmax(z)
        if 0 < top < peak:
            zmax, note = float(top), f"colour ≤ p{clip_percentile:g} = {top:.3f}"
    fig = labelled_heatmap(z, query_tokens, key_tokens, title=title, value_name=value_name, zmax=zmax,
                           max_labels=max_labels, colorbar_note=note, ticks=ticks,
                           zmin=0 if value_name.endswith("attention") else None)
    if segment_start:
        edge = segment_start - 0.5  # category axes: cell i spans i-0.5 .. i+0.5
        line = dict(color="white", width=2, dash="dash")
        fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=z.shape[0] - 0.5, line=line)
        fig.add_shape(type="line", y0=edge, y1=edge, x0=-0.5, x1=z.shape[1] - 0.5, line=line)
    return fig


def clickable_cells(heatmap: go.Heatmap) -> go.Scatter:
    """Invisible markers on every cell of `heatmap`, so that a click selects that cell (plotly selects points of
    scatter traces, not heatmap cells); they show the heatmap's own hover text."""
    rows, columns = list(heatmap.y), list(heatmap.x)
    z = np.asarray(heatmap.z, dtype=float)
    ys, xs = np.meshgrid(rows, columns, indexing="ij")
    return go.Scatter(
        x=xs.ravel(), y=ys.ravel(), mode="markers", customdata=z.ravel(), hovertemplate=heatmap.hovertemplate.replace(
            "%{z:.4f}", "%{customdata:.4f}"),
        marker=dict(size=18, symbol="square", opacity=0.0), showlegend=False,
        selected=dict(marker=dict(opacity=0.0)), unselected=dict(marker=dict(opacity=0.0)),
    )
