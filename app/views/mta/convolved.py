"""Convolved maps on a real model: its standard attention beside the same scores through an MTA kernel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from shared import TextInput, lacks_scores_notice, show_figure, text_capture
from state.mta import cached_convolved

from components.heatmaps import attention_map, kernel_labels, labelled_heatmap
from models.mta.kernels import KERNEL_PRESETS, kernel_preset

MAX_TOKENS = 128  # MTA maps are drawn per head at full resolution: keep them readable
# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("mta_text", "mta_layer", "mta_variant", "mta_cq", "mta_ck", "mta_preset", "mta_mixing", "mta_head")


def _mixing(choice: str, heads: int) -> np.ndarray | None:
    """Head mixing in pairs (c_h = 2) as (H / 2, 2, 2) matrices, or None."""
    if choice == "none":
        return None
    if heads % 2:
        st.info(f"{heads} heads cannot be grouped in pairs: head mixing is off.")
        return None
    pair = np.full((2, 2), 0.5) if choice == "mean of pairs" else np.array([[0.0, 1.0], [1.0, 0.0]])
    return np.tile(pair, (heads // 2, 1, 1)).astype(np.float32)


def render(model_key: tuple[str, str, str] | None) -> None:
    st.warning(
        "These kernels were **not learned** by this model: it was trained with ordinary attention. The maps "
        "show what the operation does to real scores, not what an MTA model would attend to. The next tab "
        "shows models that did learn their kernels."
    )
    st.session_state.setdefault("mta_text", "The cat sat on the mat. The dog sat on the log.")
    with st.form("mta_input"):
        st.text_area("Text", key="mta_text", height=80, help=f"Up to {MAX_TOKENS} tokens.")
        st.form_submit_button("Show attention", type="primary")
    if model_key is None:
        st.info("Choose a model in the sidebar.")
        return
    key = TextInput(model_key, st.session_state["mta_text"], None, MAX_TOKENS)
    capture = text_capture(key)
    if capture is None:
        return
    if lacks_scores_notice(capture, "Multi-Token Attention's convolution of the scores"):
        return
    if capture.dropped_tokens:
        st.warning(f"Only the first {capture.seq_len} tokens are used here ({capture.dropped_tokens} dropped).")

    controls, kernel_col = st.columns([1.2, 1], gap="large")
    with controls:
        layer_col, variant_col = st.columns(2)
        layer = layer_col.selectbox("Layer", range(capture.num_layers), key="mta_layer",
                                    format_func=lambda i: f"Layer {i}")
        variant = variant_col.segmented_control("Convolution", ["pre-softmax", "post-softmax"],
                                                default="pre-softmax", key="mta_variant", required=True)
        size_q, size_k, preset_col = st.columns([1, 1, 1.4])
        c_q = size_q.number_input("c_q (queries back)", 1, 6, 2, key="mta_cq")
        c_k = size_k.number_input("c_k (keys, odd)", 1, 11, 3, step=2, key="mta_ck")
        preset = preset_col.selectbox("Kernel preset", KERNEL_PRESETS, index=2, key="mta_preset")
        mixing_choice = st.segmented_control(
            "Head mixing (after softmax)", ["none", "mean of pairs", "swap pairs"], default="none", key="mta_mixing",
            required=True,
            help="Heads in groups of 2 (c_h = 2): each map becomes a mix of its group's maps.",
        )
    if c_k % 2 == 0:
        st.error("c_k must be odd: keys are padded on both sides, so the kernel centres on the key.")
        return
    with kernel_col:
        st.markdown("**Kernel** — edit any tap; rows are queries (last row = this query), columns keys")
        rows, columns = kernel_labels(c_q, c_k)
        start = pd.DataFrame(kernel_preset(preset, c_q, c_k).numpy(), index=rows, columns=columns)
        edited = st.data_editor(start.round(4), key=f"mta_kernel_{preset}_{c_q}_{c_k}")
        kernel = edited.to_numpy(dtype=np.float32)
        kernel_figure = labelled_heatmap(kernel, list(start.index), list(start.columns), title="kernel",
                                         value_name="tap", row_title="query offset", column_title="key offset",
                                         zmin=None)
        kernel_figure.update_layout(height=int(150 + 40 * c_q), margin=dict(t=80))
        show_figure(kernel_figure, "mta-kernel", key="kernel_map")

    heads = capture.num_heads
    convolved = cached_convolved(key, layer, kernel, variant == "pre-softmax", _mixing(mixing_choice, heads))
    weights = capture.layers[layer]
    if weights.sink is not None:
        st.info("This layer's heads have attention sinks, which the MTA operation does not define: the MTA maps "
                "are computed without them, so even the identity kernel differs from the model's map by the "
                "share each row gives its sink.")
    mask = None if weights.mask is None else weights.mask.numpy()
    head = st.selectbox("Head", range(heads), key="mta_head", format_func=lambda h: f"Head {h}")
    standard_col, mta_col = st.columns(2)
    with standard_col:
        show_figure(attention_map(weights.head_weights(head).numpy(), capture.tokens, mask=mask,
                                  title=f"standard · layer {layer} · head {head}", clip_percentile=99),
                    f"standard-L{layer}-H{head}", key="standard")
    with mta_col:
        show_figure(attention_map(convolved[head], capture.tokens, mask=mask, clip_percentile=99,
                                  title=f"MTA ({variant}, {preset} {c_q}×{c_k}) · layer {layer} · head {head}"),
                    f"mta-L{layer}-H{head}", key="convolved")
