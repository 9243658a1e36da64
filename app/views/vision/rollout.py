"""Rollout tab: attention rolled out through every layer, beside the last layer's pooling focus."""

from __future__ import annotations

import streamlit as st
from shared import show_figure
from state.vision import ImageInput, cached_rollout, overlay_style

from components.overlays import focus_overlays
from models.engine.capture import AttentionCapture
from models.vision.focus import agreement, pooling_focus

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("fusion", "discard")


def render(key: ImageInput, capture: AttentionCapture) -> None:
    fusion_col, discard_col = st.columns(2)
    fusion = fusion_col.segmented_control("Head fusion", ["mean", "max", "min"], default="mean", key="fusion",
                                          required=True,
                                          help="How each layer's heads are combined before rolling out.")
    discard = discard_col.slider("Discard ratio", 0.0, 0.95, 0.0, 0.05, key="discard",
                                 help="Share of each layer's weakest fused weights set to zero before rolling out.")
    rolled = cached_rollout(key, fusion, discard, capture)  # (rows, cols)
    last = pooling_focus(capture).mean(0).numpy()
    st.markdown(
        "Rollout (Abnar & Zuidema, 2020): per layer A′ = rownorm(½A + ½I) for the residual path, then "
        "A′ₗ ⋯ A′₁; the row of what pools the image is drawn. Beside it, the last layer alone."
    )
    rollout_col, last_col = st.columns(2)
    with rollout_col:
        show_figure(focus_overlays(capture.pixels, rolled[None], [f"rollout ({fusion}, discard {discard:.2f})"],
                                   columns=1, value_name="rollout", **overlay_style(1 / 2)), "rollout", key="rollout")
    with last_col:
        show_figure(focus_overlays(capture.pixels, last[None], ["last layer only (mean of heads)"], columns=1,
                                   **overlay_style(1 / 2)), "last-layer", key="last_layer")
    rho, iou = agreement(rolled, last)
    st.markdown(f"Agreement between the two: Spearman rank correlation over patches **{rho:.2f}**, "
                f"overlap (IoU) of their top 20% patches **{iou:.2f}**.")
