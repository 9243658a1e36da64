"""bertviz tab: its head view and model view, offline, on a window of tokens small enough to draw."""

from __future__ import annotations

import streamlit as st
from shared import TextInput
from state.text import cached_bertviz, map_style

from components.bertviz_embed import view_bytes
from models.engine.capture import AttentionCapture

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("bv_size", "bv_start", "bv_layers")
# the figures this view draws, by key: benchmarks and tests count them from here
FIGURES = ()
VIEW_BUDGET = 1_500_000  # bytes of attention data per view: bertviz draws every token pair as a line
MAX_WINDOW = 96


def render(key: TextInput, capture: AttentionCapture, layer: int) -> None:
    total, layers, heads = capture.seq_len, capture.num_layers, capture.num_heads
    pair = bool(capture.segments)
    st.caption(
        "bertviz 1.4.1 (Jesse Vig), embedded with its JavaScript served from this app: it works offline. "
        "Hover a token to see its attention; click a head's colour to hide it; double-click to show one head."
    )
    size_cap = max(2, min(MAX_WINDOW, total))
    default = min(size_cap, 40)
    window, start_col = st.columns(2)
    size = window.slider("Tokens shown", 2, size_cap, default, key="bv_size") if size_cap > 2 else size_cap
    start = start_col.number_input("First token", 0, total - size, 0, key="bv_start") if total > size else 0
    end = start + size
    if size < total:
        st.warning(
            f"bertviz draws a line for every pair of tokens, so it shows tokens {start}–{end - 1} of {total}. "
            "Weights are the model's, over the whole input: rows may sum to less than 1 here. "
            "The Maps tab shows every token."
        )
    fitting = max(1, min(layers, VIEW_BUDGET // max(1, view_bytes(1, heads, size, pair))))
    chosen = st.multiselect("Layers in the model view", range(layers), default=list(range(fitting)),
                            key="bv_layers", format_func=lambda i: f"Layer {i}")
    if fitting < layers:
        st.caption(f"At {size} tokens, {fitting} of {layers} layers keep the model view under "
                   f"{VIEW_BUDGET / 1e6:.1f} MB; add more at your browser's expense.")
    st.markdown(f"**Head view** · layer {layer} (all heads as colours; pick the layer above the tabs)")
    style = map_style()
    if style.weighting == "value-norm":
        st.caption("bertviz draws each weight as a line's opacity: here each row of α·‖v W_O‖ is divided by its "
                   "sum, so the lines show the share of what each token reads that comes from each other token.")
    st.iframe(cached_bertviz(key, "head", (layer,), start, end, style), height=min(2600, 140 + 26 * size))
    st.markdown("**Model view** · layers × heads")
    if chosen:
        st.iframe(cached_bertviz(key, "model", tuple(sorted(chosen)), start, end, style),
                  height=min(4000, 140 + 180 * len(chosen)))
    else:
        st.info("Choose at least one layer.")
