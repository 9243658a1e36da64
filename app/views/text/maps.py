"""Maps tab: every layer and head as thumbnails, one head at full resolution, per-head numbers."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st
from shared import TextInput, progress_bar, show_figure
from state.text import (
    atlas_of,
    cached_head_map,
    cached_mosaic,
    cached_statistics,
    cached_zoom,
    clip_percentile,
    map_style,
)

from components.heatmaps import MAX_CELLS, attention_map, labelled_heatmap
from models.engine.capture import AttentionCapture
from models.text.weighting import WEIGHTINGS

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("statistic", "zoom_size", "zoom_query", "zoom_key")
ZOOM_SIZES = (64, 128, 256)
# the figures this view draws, by key: benchmarks and tests count them from here
FIGURES = ("mosaic", "statistic_grid", "selected_map")  # and "zoom_map" past MAX_CELLS tokens


def _zoom(key: TextInput, capture: AttentionCapture, layer: int, head: int, style, shown: str) -> None:
    """A window of the selected map at full resolution: the exact cells of the blocks the overview pools."""
    st.caption(f"Each cell above is the largest weight of a block of tokens, so no sharp weight is lost at "
               f"{capture.seq_len} tokens. The window below shows the exact cells of any part of the map.")
    size_column, query_column, key_column = st.columns(3, vertical_alignment="bottom")
    size = size_column.selectbox("Window (tokens a side)", ZOOM_SIZES, index=len(ZOOM_SIZES) - 1, key="zoom_size")
    last = capture.seq_len - size
    first_query = query_column.number_input("First query (row)", 0, last, last, key="zoom_query")
    first_key = key_column.number_input("First key (column)", 0, last, last, key="zoom_key")
    window = cached_zoom(key, layer, head, style, int(first_query), int(first_key), size)
    mask = capture.layers[layer].allowed[first_query : first_query + size, first_key : first_key + size].numpy()
    figure = attention_map(
        window, capture.tokens[first_query : first_query + size], capture.tokens[first_key : first_key + size],
        mask=mask, clip_percentile=clip_percentile(),
        title=f"layer {layer} · head {head} · {shown} · queries {first_query}–{first_query + size - 1} × keys "
              f"{first_key}–{first_key + size - 1}, exact",
        value_name="attention" if style.weighting == "attention" else "α·‖v W_O‖",
    )
    show_figure(figure, f"attention-L{layer}-H{head}-window", key="zoom_map")


def render(key: TextInput, capture: AttentionCapture, layer: int, head: int) -> None:
    style = map_style()
    overview, detail = st.columns([1, 1.35], gap="large")
    with detail:  # the chosen head first: one map, computed at once; the overview needs every head
        resolution = "full resolution" if capture.seq_len <= MAX_CELLS else "max-pooled overview"
        st.subheader(f"Layer {layer} · head {head}, {resolution}")
        weights = capture.layers[layer]
        shown = WEIGHTINGS[style.weighting] + (", sinks hidden" if style.hide_sinks else "")
        figure = attention_map(
            cached_head_map(key, layer, head, style), capture.tokens,
            mask=None if weights.mask is None else weights.mask.numpy(),
            title=f"{capture.model_name} · layer {layer} · head {head} · {shown}",
            segment_start=capture.second_segment, clip_percentile=clip_percentile(),
            value_name="attention" if style.weighting == "attention" else "α·‖v W_O‖",
        )
        show_figure(figure, f"attention-L{layer}-H{head}", key="selected_map")
        if capture.seq_len > MAX_CELLS:
            _zoom(key, capture, layer, head, style, shown)
        if capture.second_segment:
            st.caption("Dashed lines: where the second segment of the sentence pair begins.")
    with overview:
        st.subheader("All layers × heads")
        heads = capture.num_layers * capture.num_heads
        with progress_bar(lambda done, total: f"Summarising {heads} heads: layer {done} of {total}") as progress:
            statistics = cached_statistics(key, _progress=progress)
        st.caption("Each thumbnail is one head, its colour saturating at its own 99th percentile; long inputs are "
                   "averaged into blocks.")
        show_figure(cached_mosaic(key, style), "attention-mosaic", key="mosaic")
        name = st.selectbox("Summary number for every head", list(statistics[0]), key="statistic")
        grid = np.stack([layer_stats[name] for layer_stats in statistics])  # (L, H)
        figure = labelled_heatmap(
            grid, [f"L{i}" for i in range(capture.num_layers)], [f"H{h}" for h in range(capture.num_heads)],
            title=name, value_name=name.split(" (")[0], row_title="layer", column_title="head", zmin=None,
        )
        figure.update_layout(height=int(min(700, 160 + 22 * capture.num_layers)), margin=dict(t=90))
        show_figure(figure, f"head-{name.split(' (')[0]}", key="statistic_grid")
    with detail:
        _head_table(key, capture, layer, head, statistics[layer])


def _head_table(key: TextInput, capture: AttentionCapture, layer: int, head: int,
                statistics: dict[str, np.ndarray]) -> None:
    """Every head of the layer in numbers, the chosen one highlighted, each linked to its atlas card."""
    st.markdown(f"**Every head of layer {layer}** (averaged over query tokens) · module "
                f"`{capture.layers[layer].name}`")
    table = pd.DataFrame(statistics, index=[f"H{h}" for h in range(capture.num_heads)])
    numbers = list(table.columns)
    atlas = atlas_of(key.model[0])
    if atlas:  # each head links to its card in the head atlas of this model
        table["atlas"] = [f"/atlas?{urlencode({'atlas': atlas, 'layer': layer, 'head': h})}"
                          for h in range(capture.num_heads)]
    st.dataframe(
        table.style.format("{:.3f}", subset=numbers).highlight_between(
            subset=pd.IndexSlice[[f"H{head}"], numbers], color="#fde68a"),
        key="head_table",
        column_config={"atlas": st.column_config.LinkColumn("atlas", display_text="what it does in general")},
    )
    st.caption(
        "Entropy: 0 bits = all attention on one key, log₂(n) = spread evenly over n keys. "
        "Mean distance: how far away, in tokens, the attended tokens are. "
        "'on …': the share of each query's attention that lands on that token (attention sinks)."
    )
