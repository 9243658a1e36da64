"""Pooling focus tab: what pools the image, per head, over the photo, beside the heads' average."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from shared import show_figure
from state.vision import overlay_style

from components.overlays import focus_overlays
from models.engine.capture import AttentionCapture
from models.vision.focus import pooling_focus, pooling_source, top_share

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ()


def render(capture: AttentionCapture) -> None:
    try:
        source = pooling_source(capture)
    except ValueError as error:
        st.info(f"No pooling focus: {error}.")
        return
    focus = pooling_focus(capture)  # (H, rows, cols)
    average = focus.mean(0, keepdim=True)
    st.markdown(
        f"Pooled by **{source}**. Each panel: the share of that head's pooling attention on each patch; "
        "all panels share one colour scale, so a faint head is faint because it looks elsewhere "
        "(at the CLS token itself or at registers)."
    )
    maps = np.concatenate([average.numpy(), focus.numpy()])
    titles = ["mean of heads (single map)"] + [f"head {h}" for h in range(capture.num_heads)]
    show_figure(focus_overlays(capture.pixels, maps, titles, columns=4, value_name="attention", **overlay_style()),
                "pooling-focus", key="pooling_focus")
    table = pd.DataFrame(
        {"on patches (total)": focus.flatten(1).sum(1).numpy(),
         "top 10% of patches hold": top_share(focus, 0.1).numpy()},
        index=[f"head {h}" for h in range(capture.num_heads)],
    )
    st.dataframe(table.style.format("{:.1%}"), key="pooling_table")
    st.caption(f"Uniform attention over the {focus[0].numel()} patches would put 10% of the mass on the top 10%.")
