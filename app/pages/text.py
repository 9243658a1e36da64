"""Text page: type a sentence, see every layer's and head's attention, and one map in full."""

import streamlit as st
from session import cached_mosaic, model_picker, text_capture

from components.heatmaps import attention_map

DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
MAX_TOKENS = 512

st.title("Text attention")
st.caption(
    "Every layer and head of a real pretrained model, captured from its forward pass: "
    "the weights softmax(QKᵀ/√d + mask) that each token (query, row) gives every token (key, column)."
)

picked = model_picker("text")
st.session_state.setdefault("text", DEFAULT_TEXT)
with st.form("text_input"):
    st.text_area("Text", key="text", height=110, max_chars=100_000,
                 help=f"Up to {MAX_TOKENS} tokens are shown; longer text is cut with a notice.")
    is_encoder = picked is not None and not picked[0].causal
    pair = st.text_input("Second segment (optional sentence pair)", key="pair") if is_encoder else None
    st.form_submit_button("Show attention", type="primary")

if picked is None:
    st.info("Choose a model in the sidebar to see its attention.")
    st.stop()
loaded, key = picked
text = st.session_state["text"]
capture = text_capture(key, text, pair, MAX_TOKENS)
if capture is None:
    st.stop()

if capture.dropped_tokens:
    st.warning(
        f"The text is {capture.seq_len + capture.dropped_tokens} tokens long; the last "
        f"{capture.dropped_tokens} were dropped to fit the limit of {capture.seq_len} tokens."
    )
heads_note = f" ({capture.kv_heads} key/value heads shared by the query heads)" if capture.kv_heads else ""
st.markdown(
    f"**{capture.seq_len} tokens** · **{capture.num_layers} layers × {capture.num_heads} heads**{heads_note} · "
    + ("causal: each token sees only earlier tokens (grey = masked)" if capture.causal else "bidirectional")
)

overview, detail = st.columns([1, 1.35], gap="large")
with overview:
    st.subheader("All layers × heads")
    st.caption("Each thumbnail is one head, scaled to its own maximum; long inputs are averaged into blocks.")
    st.plotly_chart(cached_mosaic(key, text, pair, MAX_TOKENS, 40), key="mosaic", width="stretch")
with detail:
    st.subheader("One head, full resolution")
    pick_layer, pick_head = st.columns(2)
    layer_index = pick_layer.selectbox("Layer", range(capture.num_layers), key="layer",
                                       format_func=lambda i: f"Layer {i}")
    head_index = pick_head.selectbox("Head", range(capture.num_heads), key="head",
                                     format_func=lambda i: f"Head {i}")
    layer = capture.layers[layer_index]
    figure = attention_map(
        layer.weights[head_index].numpy(),
        capture.tokens,
        mask=None if layer.mask is None else layer.mask.numpy(),
        title=f"{loaded.name} · layer {layer_index} · head {head_index}",
    )
    st.plotly_chart(figure, key="selected_map", width="stretch")
    st.caption(f"Module: `{layer.name}`")
