"""Ablation tab: remove any set of heads, run the input again, and compare the output and the later maps."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import streamlit as st
from shared import TextInput, cached_model, progress_bar, requested, show_figure
from state.text import AblationInput, ablated, clip_percentile

from components.heatmaps import attention_map, difference_map, labelled_heatmap
from components.markdown import escape_markdown
from models.engine.capture import AttentionCapture, token_labels

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("abl_heads", "abl_mode")
# the figures this view draws once a comparison is shown (decoders add the next-token one)
FIGURES = ("abl_change", "abl_original", "abl_ablated", "abl_difference")


def _next_token_figure(rows: list[tuple[str, float, float]]) -> go.Figure:
    labels = [html.escape(token) for token, _, _ in rows]
    fig = go.Figure([go.Bar(x=labels, y=[before for _, before, _ in rows], name="original", marker_color="#6366f1"),
                     go.Bar(x=labels, y=[after for _, _, after in rows], name="heads removed",
                            marker_color="#f59e0b")])
    fig.update_layout(title=dict(text="next-token probabilities at the last position", font=dict(size=13)),
                      barmode="group", yaxis_title="probability", height=340, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=1.12, x=0))
    fig.update_xaxes(type="category", tickangle=-45)
    return fig


def _label(layer: int, head: int) -> str:
    return f"L{layer}H{head}"


def render(key: TextInput, capture: AttentionCapture, layer: int, head: int) -> None:
    loaded = cached_model(*key.model)
    if not loaded.exposes_scores:
        st.info(f"{loaded.name} computes attention in its own code: its heads cannot be removed here.")
        return
    options = [(i, h) for i in range(capture.num_layers) for h in range(capture.num_heads)]
    st.session_state.setdefault("abl_heads", [(layer, head)])
    st.session_state["abl_heads"] = [h for h in st.session_state["abl_heads"] if h in options]  # another model
    with st.form("ablation"):
        pick, mode = st.columns([3, 1.2], vertical_alignment="bottom")
        pick.multiselect("Heads to remove", options, key="abl_heads", format_func=lambda h: _label(*h),
                         help="Any heads of any layers: each head's output is removed before the output projection.")
        st.session_state.setdefault("abl_mode", "zeroing")  # a default only once: the value is kept across tabs
        mode.segmented_control("Remove by", ["zeroing", "mean"], required=True, key="abl_mode",
                               help="zeroing: the head adds nothing. mean: its output at each position becomes its "
                                    "mean over the positions that position may attend to (earlier ones in a causal "
                                    "model), so the head's average contribution stays and only its pattern goes.")
        run = st.form_submit_button("Run again without them", type="primary")
    request = requested(
        "abl_request", run, key,
        lambda: AblationInput(key, tuple(st.session_state["abl_heads"]), st.session_state["abl_mode"] == "mean"),
        "Choose heads and press the button: the same input runs again without them, and the output and the later "
        "layers' maps are compared with the original.")
    if request is None:
        return
    with progress_bar(lambda done, total: f"Comparing every head's map with the original: layer {done} of "
                                          f"{total}") as progress:
        result = ablated(request, progress)
    if result is None:
        return
    removed = ", ".join(_label(*h) for h in result.heads)
    how = "replaced by their mean" if result.mean else "zeroed"
    st.markdown(f"**Removed** ({how}): {removed}")
    if result.next_token is not None:
        tokenizer = loaded.processor
        top = result.top_next_tokens()
        labels = token_labels(tokenizer, [i for i, _, _ in top])
        rows = [(label, before, after) for label, (_, before, after) in zip(labels, top, strict=True)]
        st.metric("KL(original ‖ removed), next token", f"{result.kl_divergence():.4f} nats")
        show_figure(_next_token_figure(rows), "ablation-next-token", key="abl_next")
    elif result.embedding_cosine is not None:
        st.metric("Cosine of the sentence embeddings (mean-pooled), original vs removed",
                  f"{result.embedding_cosine:.4f}")
    change = labelled_heatmap(result.map_change.numpy(), [f"L{i}" for i in range(capture.num_layers)],
                              [f"H{h}" for h in range(capture.num_heads)], title="how much the map of each head moved "
                              "(mean total variation of its rows)", value_name="change", row_title="layer",
                              column_title="head", zmax=None)
    change.update_layout(height=int(min(700, 160 + 22 * capture.num_layers)), margin=dict(t=90))
    show_figure(change, "ablation-map-change", key="abl_change")
    if layer < result.first_layer:
        st.caption(f"Layer {layer} comes before the first removed head (layer {result.first_layer}): its maps "
                   "cannot change. Pick a later layer above the tabs to see the difference.")
    st.markdown(f"**Layer {layer} · head {head}** · its map moved by {result.map_change[layer, head]:.4f} "
                f"(«{escape_markdown(capture.tokens[0])}»… {capture.seq_len} tokens)")
    before, after = result.original.layers[layer], result.ablated.layers[layer]
    mask = None if before.mask is None else before.mask.numpy()
    left, middle, right = st.columns(3)
    for column, weights, name, figure_key in ((left, before, "original", "abl_original"),
                                              (middle, after, "heads removed", "abl_ablated")):
        with column:
            show_figure(attention_map(weights.head_weights(head).numpy(), capture.tokens, mask=mask,
                                      title=f"{name} · layer {layer} · head {head}", clip_percentile=clip_percentile()),
                        f"ablation-{name.replace(' ', '-')}-L{layer}-H{head}", key=figure_key)
    with right:
        difference = result.map_difference(layer, head).numpy()
        show_figure(difference_map(difference, capture.tokens, capture.tokens, "removed − original"),
                    f"ablation-difference-L{layer}-H{head}", key="abl_difference")
