"""Figures for the Q/K/V walkthrough: vectors as colour strips, per-key numbers as bars."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from components.heatmaps import labelled_heatmap

DIVERGING = "RdBu_r"


def vector_heatmap(
    rows: np.ndarray, row_labels: Sequence[str], title: str, column_title: str = "component"
) -> go.Figure:
    """(n, d) vectors as a diverging colour strip per row (0 = white), components numbered along x."""
    rows = np.atleast_2d(rows).astype(np.float32)
    peak = float(np.abs(rows).max()) or 1.0
    fig = labelled_heatmap(
        rows, row_labels, [str(i) for i in range(rows.shape[1])], title=title, value_name="value",
        row_title="vector", column_title=column_title, colorscale=DIVERGING, zmin=-peak, zmid=0.0,
    )
    fig.update_traces(zmax=peak)
    fig.update_xaxes(tickangle=0)
    fig.update_layout(height=int(min(900, max(210, 14 * rows.shape[0] + 150))), margin=dict(t=110))
    return fig


def token_bars(
    series: Mapping[str, np.ndarray], tokens: Sequence[str], allowed: np.ndarray, title: str, value_title: str
) -> go.Figure:
    """One bar per key token for each named series (e.g. raw and scaled scores); masked keys are left out."""
    keep = np.flatnonzero(allowed)
    labels = [f"{html.escape(tokens[i])}·{i}" for i in keep]
    fig = go.Figure(
        [go.Bar(x=labels, y=np.asarray(values)[keep], name=html.escape(name),
                hovertemplate="key %{x}<br>%{y:.4f}<extra>" + html.escape(name) + "</extra>")
         for name, values in series.items()]
    )
    step = -(-len(labels) // 48)
    fig.update_xaxes(type="category", tickmode="array", tickvals=labels[::step], tickangle=-60)
    fig.update_layout(
        title=dict(text=html.escape(title), font=dict(size=13)), barmode="group", yaxis_title=value_title,
        height=360, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=1.12, x=0),
    )
    return fig
