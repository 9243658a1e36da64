"""The Attention Head tab: where the seed-000 head's pooling heads look, its anchor, its kept patches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from shared import show_figure
from state.vision import HEAD_FOLDER, cached_head, cached_head_reading, head_backbone, image_capture, overlay_style

from components.overlays import focus_overlays
from models.vision.focus import pooling_focus

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ()


def render(model_key: tuple[str, str, str], data: bytes) -> None:
    head = cached_head(str(HEAD_FOLDER))
    if head is None:  # the reason is already on the page
        return
    result = image_capture(head_backbone(head, model_key), data)
    if result is None:
        return
    key, capture, _ = result
    reading = cached_head_reading(key, str(HEAD_FOLDER), capture)
    st.markdown(
        f"The head (seed 000) reads the backbone's last {capture.seq_len} tokens, keeps "
        f"**{head.config.keep - 1}** of them by the attention they receive (+ 1 merged token), mixes them with "
        f"one attention block and pools them with **{head.config.heads} heads**"
        + (" that can also rest on the frozen **anchor token** (the training data's mean token)."
           if reading.anchor_share is not None else ", without an anchor token.")
    )
    titles = [f"pooling head {h}" for h in range(head.config.heads)]
    show_figure(focus_overlays(capture.pixels, reading.focus.numpy(), titles, columns=3, value_name="attention",
                               **overlay_style()), "head-focus", key="head_focus")
    widths = [1, 1, 1.3]
    backbone_col, kept_col, table_col = st.columns(widths, gap="medium")
    style = overlay_style(widths[0] / sum(widths))
    with backbone_col:
        cls = pooling_focus(capture).mean(0, keepdim=True).numpy()  # the backbone's own pooling, mean of heads
        show_figure(focus_overlays(capture.pixels, cls, ["backbone CLS (last layer)"], columns=1,
                                   value_name="attention", **style), "backbone-cls-focus", key="head_cls")
    with kept_col:
        kept = reading.kept.float().numpy()[None]
        show_figure(focus_overlays(capture.pixels, kept, [f"kept by the reducer ({int(kept.sum())} patches)"],
                                   columns=1, value_name="kept", **style), "head-kept", key="head_kept")
        if reading.kept_special:
            st.caption(f"{reading.kept_special} kept token(s) are not patches (CLS) and are not drawn.")
    with table_col:
        table = pd.DataFrame({
            "on the anchor": np.nan if reading.anchor_share is None else reading.anchor_share.numpy(),
            "on patches": reading.focus.flatten(1).sum(1).numpy(),
            "entropy (bits)": reading.entropy_bits.numpy(),
        }, index=[f"pooling head {h}" for h in range(head.config.heads)])
        formats = {"on the anchor": "{:.1%}", "on patches": "{:.1%}", "entropy (bits)": "{:.2f}"}
        st.dataframe(table.style.format(formats), key="head_table")
        st.caption(f"Entropy over the {head.config.keep} reduced tokens, anchor left out: "
                   f"{np.log2(head.config.keep):.1f} bits is uniform, 0 is all weight on one token (collapse). "
                   "'On patches' leaves out the anchor and the CLS token.")
