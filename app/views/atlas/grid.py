"""The layers × heads grid of one measure; click a cell (or pick below) to open that head's card."""

from __future__ import annotations

import streamlit as st

from components.heatmaps import clickable_cells, labelled_heatmap
from models.atlas.atlas import Atlas
from models.atlas.measures import DESCRIPTIONS
from models.atlas.reading import HIGHER_IS_MORE, MEASURES

WIDGETS = ("atlas_measure", "atlas_layer", "atlas_head")


def _take_clicked_cell(heads: int) -> None:
    """A click on the grid selects that head (the select boxes below hold the choice)."""
    event = st.session_state.get("atlas_grid")
    points = (event or {}).get("selection", {}).get("points", [])
    clicked = points[0].get("point_index") if points else None  # clickable_cells: row by row, layer * heads + head
    if clicked is not None and clicked != st.session_state.get("atlas_clicked"):  # a new click, not the last one
        st.session_state["atlas_clicked"] = clicked
        st.session_state["atlas_layer"], st.session_state["atlas_head"] = divmod(int(clicked), heads)


def render(atlas: Atlas) -> tuple[int, int]:
    """Draw the grid and return the chosen (layer, head)."""
    _take_clicked_cell(atlas.num_heads)
    measure = st.selectbox("Colour the heads by", MEASURES, key="atlas_measure",
                           format_func=lambda m: f"{m} — {DESCRIPTIONS[m]}")
    grid = atlas.grid(measure)
    figure = labelled_heatmap(
        grid, [f"L{i}" for i in range(atlas.num_layers)], [f"H{h}" for h in range(atlas.num_heads)],
        title=f"{measure}, mean over {atlas.texts:,} texts" if measure not in ("duplicate_token", "induction")
        else f"{measure}, mean over the repeated random-token probes",
        value_name=measure, row_title="layer", column_title="head", zmin=None,
        colorscale="Viridis" if HIGHER_IS_MORE[measure] else "Viridis_r",
    )
    figure.add_trace(clickable_cells(figure.data[0]))
    figure.update_layout(height=int(min(900, 160 + 26 * atlas.num_layers)), showlegend=False)
    st.plotly_chart(figure, key="atlas_grid", on_select="rerun", selection_mode="points", width="stretch",
                    config={"displaylogo": False})
    for key, size in (("atlas_layer", atlas.num_layers), ("atlas_head", atlas.num_heads)):
        if st.session_state.get(key, 0) >= size:  # another atlas, smaller model
            st.session_state[key] = 0
    pick_layer, pick_head = st.columns(2)
    layer = pick_layer.selectbox("Layer", range(atlas.num_layers), key="atlas_layer",
                                 format_func=lambda i: f"Layer {i}")
    head = pick_head.selectbox("Head", range(atlas.num_heads), key="atlas_head", format_func=lambda h: f"Head {h}")
    return layer, head
