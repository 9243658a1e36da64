"""Attention arrays -> plotly heatmaps: the layers x heads overview and one map in full."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

MASKED_COLOR = "rgba(150,150,150,0.25)"
COLORSCALE = "Viridis"


def downsample(weights: np.ndarray, mask: np.ndarray | None, size: int) -> np.ndarray:
    """Average (Tq, Tk) into at most size x size blocks; masked entries are NaN and stay out of the mean."""
    values = weights.astype(np.float32, copy=True)
    if mask is not None:
        values[~mask] = np.nan
    tq, tk = values.shape
    rows = np.linspace(0, tq, min(size, tq) + 1).astype(int)
    cols = np.linspace(0, tk, min(size, tk) + 1).astype(int)
    # block sums through cumulative sums: one pass, no Python loop per block
    filled = np.nan_to_num(values)
    counts = (~np.isnan(values)).astype(np.float32)

    def block_sums(a: np.ndarray) -> np.ndarray:
        c = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        r0, r1, c0, c1 = rows[:-1], rows[1:], cols[:-1], cols[1:]
        return c[r1][:, c1] - c[r0][:, c1] - c[r1][:, c0] + c[r0][:, c0]

    with np.errstate(invalid="ignore", divide="ignore"):
        return block_sums(filled) / block_sums(counts)


def attention_mosaic(
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray | None],
    num_heads: int,
    thumb: int = 40,
) -> go.Figure:
    """All layers x heads as one tiled image: row = layer, column = head, each scaled to its own maximum."""
    num_layers, gap = len(maps), 2
    h, w = (min(thumb, n) for n in maps[0].shape[-2:])  # the size downsample gives every tile
    canvas = np.full((num_layers * (h + gap) - gap, num_heads * (w + gap) - gap), np.nan, np.float32)
    for li, (layer_maps, mask) in enumerate(zip(maps, masks, strict=True)):  # layer_maps (H, Tq, Tk)
        for hi in range(num_heads):
            tile = downsample(layer_maps[hi], mask, thumb)
            peak = np.nanmax(tile) if np.isfinite(tile).any() else 1.0
            canvas[li * (h + gap) : li * (h + gap) + h, hi * (w + gap) : hi * (w + gap) + w] = tile / (peak or 1.0)
    fig = go.Figure(
        go.Heatmap(z=canvas, colorscale=COLORSCALE, zmin=0, zmax=1, showscale=False, hoverinfo="skip")
    )
    fig.update_xaxes(
        tickmode="array", tickvals=[hi * (w + gap) + w / 2 for hi in range(num_heads)],
        ticktext=[f"H{hi}" for hi in range(num_heads)], side="top", showgrid=False, zeroline=False,
    )
    fig.update_yaxes(
        tickmode="array", tickvals=[li * (h + gap) + h / 2 for li in range(num_layers)],
        ticktext=[f"L{li}" for li in range(num_layers)], autorange="reversed", showgrid=False,
        zeroline=False, scaleanchor="x",
    )
    fig.update_layout(
        height=int(min(1500, max(250, 70 + 480 * num_layers / num_heads))),  # tiles stay square
        margin=dict(l=40, r=10, t=40, b=10),
        plot_bgcolor=MASKED_COLOR,
    )
    return fig


def _unique_labels(tokens: Sequence[str]) -> list[str]:
    """Category labels that stay apart when a token repeats: 'the·3'. Escaped for plotly's HTML-ish text."""
    return [f"{html.escape(t)}·{i}" for i, t in enumerate(tokens)]


def attention_map(
    weights: np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    mask: np.ndarray | None = None,
    title: str = "",
    value_name: str = "attention",
) -> go.Figure:
    """One (Tq, Tk) map at full resolution: token labels, hover values, masked cells left blank."""
    key_tokens = query_tokens if key_tokens is None else key_tokens
    z = weights.astype(np.float32, copy=True)
    if mask is not None:
        z[~mask] = np.nan  # masked: no attention is possible there, not "zero attention"
    ys, xs = _unique_labels(query_tokens), _unique_labels(key_tokens)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=xs, y=ys, colorscale=COLORSCALE, zmin=0 if value_name == "attention" else None,
            hovertemplate=f"query %{{y}}<br>key %{{x}}<br>{value_name} %{{z:.4f}}<extra></extra>",
            colorbar=dict(title=value_name, thickness=12),
        )
    )
    n = max(len(xs), len(ys))
    step = -(-n // 48)  # label every token up to 48, then thin out (hover still names each one)
    fig.update_xaxes(
        tickmode="array", tickvals=xs[::step], ticktext=[html.escape(t) for t in key_tokens][::step],
        tickangle=-60, side="top", title="key (attended to)", type="category",
    )
    fig.update_yaxes(
        tickmode="array", tickvals=ys[::step], ticktext=[html.escape(t) for t in query_tokens][::step],
        autorange="reversed", title="query (attending)", type="category",
    )
    size = int(min(900, max(420, 18 * n + 160)))
    fig.update_layout(
        title=dict(text=html.escape(title), y=0.995, yanchor="top", font=dict(size=13)),
        height=size, margin=dict(l=10, r=10, t=140, b=10), plot_bgcolor=MASKED_COLOR
    )
    return fig
