"""Any patch tab: click a patch (or pick its row and column) and see what it attends to, per head."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st
from shared import show_figure
from state.vision import overlay_style

from components.overlays import focus_overlays, patch_picker
from models.engine.capture import AttentionCapture
from models.vision.focus import patch_focus

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("v_layer", "patch_row", "patch_col")


def _clicked(columns: int) -> None:
    """A click on the picker selects that patch: copy it into the row/column selectors before they render."""
    points = st.session_state["patch_picker"].selection.points
    if points and "point_index" in points[0]:  # the grid of patch centres is the only selectable trace
        row, col = divmod(int(points[0]["point_index"]), columns)
        st.session_state["patch_row"], st.session_state["patch_col"] = row, col


def render(capture: AttentionCapture) -> None:
    grid = capture.grid
    for name, size in (("patch_row", grid.rows), ("patch_col", grid.cols)):  # keep choices on this grid
        st.session_state[name] = min(st.session_state.get(name, size // 2), size - 1)
    widths = [1.3, 2]
    left, right = st.columns(widths, gap="large")
    with left:
        layer = st.selectbox("Layer", range(capture.num_layers), index=capture.num_layers - 1, key="v_layer",
                             format_func=lambda i: f"Layer {i}")
        row_col, col_col = st.columns(2)
        row = row_col.number_input("Patch row", 0, grid.rows - 1, key="patch_row")
        col = col_col.number_input("Patch column", 0, grid.cols - 1, key="patch_col")
        picker = patch_picker(capture.pixels, grid.rows, grid.cols, (row, col))
        st.plotly_chart(picker, key="patch_picker", on_select=partial(_clicked, grid.cols), selection_mode="points",
                        config={"displayModeBar": False})
        st.caption("Click a patch on the photo, or set its row and column.")
    with right:
        focus = patch_focus(capture, layer, row * grid.cols + col)  # (H, rows, cols)
        maps = np.concatenate([focus.mean(0, keepdim=True).numpy(), focus.numpy()])
        titles = ["mean of heads"] + [f"head {h}" for h in range(capture.num_heads)]
        st.markdown(f"**Patch ({row}, {col}) as the query, layer {layer}:** where its attention goes.")
        style = overlay_style(widths[1] / sum(widths))
        show_figure(focus_overlays(capture.pixels, maps, titles, columns=4, marker=(row, col), **style),
                    f"patch-{row}-{col}-L{layer}", key="patch_focus")
