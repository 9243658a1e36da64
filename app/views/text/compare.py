"""A/B tab: a second text through the same model, its maps beside the first's, and their difference where the
tokens match."""

from __future__ import annotations

import streamlit as st
from shared import TextInput, progress_bar, show_figure, text_capture
from state.text import cached_alignment, cached_map_difference, cached_shifts, clip_percentile

from components.heatmaps import attention_map, difference_map, labelled_heatmap
from models.engine.capture import AttentionCapture

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("ab_text",)
# the figures this view draws once both inputs are captured
FIGURES = ("ab_shifts", "ab_a", "ab_b", "ab_difference")
CLASSIC = ("The animal didn't cross the street because it was too tired.",
           "The animal didn't cross the street because it was too wide.")


def render(key: TextInput, capture: AttentionCapture, layer: int, head: int) -> None:
    if "ab_text" not in st.session_state:  # the classic pair when A is its first half; else start from A
        st.session_state["ab_text"] = CLASSIC[1] if key.text == CLASSIC[0] else key.text
    with st.form("ab"):
        st.text_area("Text B (text A is the one above the tabs)", key="ab_text", height=80, max_chars=100_000)
        st.form_submit_button("Compare", type="primary")
    other = TextInput(key.model, st.session_state["ab_text"], None, key.max_tokens)
    if other.text == key.text:
        st.info("Text B is the same as text A: change a word to see what moves.")
        return
    second = text_capture(other)
    if second is None:
        return
    pairs = cached_alignment(key, other)
    st.markdown(f"**A**: {capture.seq_len} tokens · **B**: {second.seq_len} tokens · **{len(pairs)}** matched in "
                "order; the difference is taken between matched tokens only (blank where a token has no match).")
    with progress_bar(lambda done, total: f"Comparing every head of A and B: layer {done} of {total}") as progress:
        moved = cached_shifts(key, other, _progress=progress)
    shifts = labelled_heatmap(moved, [f"L{i}" for i in range(capture.num_layers)],
                              [f"H{h}" for h in range(capture.num_heads)], title="how much each head moves from A "
                              "to B (mean total variation over matched rows)", value_name="shift", row_title="layer",
                              column_title="head", zmax=None)
    shifts.update_layout(height=int(min(700, 160 + 22 * capture.num_layers)), margin=dict(t=90))
    show_figure(shifts, "ab-head-shifts", key="ab_shifts")
    left, middle, right = st.columns(3)
    for column, shown, name, figure_key in ((left, capture, "A", "ab_a"), (middle, second, "B", "ab_b")):
        weights = shown.layers[layer]
        with column:
            show_figure(attention_map(weights.head_weights(head).numpy(), shown.tokens,
                                      mask=None if weights.mask is None else weights.mask.numpy(),
                                      title=f"{name} · layer {layer} · head {head}", clip_percentile=clip_percentile()),
                        f"ab-{name}-L{layer}-H{head}", key=figure_key)
    with right:
        difference = cached_map_difference(key, other, layer, head)
        show_figure(difference_map(difference, capture.tokens, capture.tokens, "B − A on the tokens of A"),
                    f"ab-difference-L{layer}-H{head}", key="ab_difference")
