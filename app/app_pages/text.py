"""Text page: type a sentence, see every layer's and head's attention in four views of one forward pass."""

import streamlit as st
from shared import (
    TextInput,
    capture_of,
    figure_format_control,
    keep_widget_state,
    model_picker,
    show_model_notes,
    text_capture,
)
from state.text import cached_weighting_problem, sink_tokens
from views.text import ablation, bertviz, compare, generation, heads, maps, seq2seq, walkthrough

from components.markdown import escape_markdown
from models.engine.export import capture_npz, includes_maps, maps_bytes, npz_size
from models.text.weighting import WEIGHTINGS

DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
INPUT_WIDGETS = ("text", "pair", "layer", "head")  # kept while an encoder–decoder's page is shown instead
VIEWS = ("Maps", "Single vs multi-head", "Q·K·V walkthrough", "bertviz", "Generation", "Ablation", "A/B")

# before any st.stop: a failed input must not reset the closed tabs' choices
keep_widget_state(maps, heads, walkthrough, bertviz, generation, ablation, compare, seq2seq, INPUT_WIDGETS)
st.title("Text attention")
st.caption(
    "Every layer and head of a real pretrained model, captured from its forward pass: "
    "the weights softmax(QKᵀ/√d + mask) that each token (query, row) gives every token (key, column)."
)

picked = model_picker("text", encoder_decoders=True)
if picked is not None and picked[0].encoder_decoder:  # a source, its translation, and three kinds of attention
    seq2seq.render(*picked)
    st.stop()
st.session_state.setdefault("text", DEFAULT_TEXT)
with st.form("text_input"):
    st.text_area("Text", key="text", height=110, max_chars=100_000,
                 help="Up to the model's own limit of tokens are shown (within the memory a capture may take); "
                      "longer text is cut with a notice. Past 512 tokens each map is max-pooled into blocks, with a "
                      "window of exact cells.")
    is_encoder = picked is not None and not picked[0].causal
    pair = st.text_input("Second segment (optional sentence pair)", key="pair") if is_encoder else None
    st.form_submit_button("Show attention", type="primary")

if picked is None:
    st.info("Choose a model in the sidebar to see its attention.")
    st.stop()
loaded, model_key = picked
key = TextInput(model_key, st.session_state["text"], pair or None, None)  # the model's own limit
capture = text_capture(key)
if capture is None:
    st.stop()

if capture.dropped_tokens:
    st.warning(
        f"The text is {capture.seq_len + capture.dropped_tokens} tokens long; the last "
        f"{capture.dropped_tokens} were dropped to fit the limit of {capture.seq_len} tokens."
    )
show_model_notes(loaded, capture)
heads_note = f" ({capture.kv_heads} key/value heads shared by the query heads)" if capture.kv_heads else ""
st.markdown(
    f"**{capture.seq_len} tokens** · **{capture.num_layers} layers × {capture.num_heads} heads**{heads_note} · "
    + ("causal: each token sees only earlier tokens (grey = masked)" if capture.causal else "bidirectional")
)

pick_layer, pick_head, pick_colour, pick_format, download = st.columns([1, 1, 1.3, 1, 1.6],
                                                                      vertical_alignment="bottom")
layer = pick_layer.selectbox("Layer", range(capture.num_layers), key="layer", format_func=lambda i: f"Layer {i}")
head = pick_head.selectbox("Head", range(capture.num_heads), key="head", format_func=lambda i: f"Head {i}")
pick_colour.segmented_control(
    "Colour range", ["0 – max", "0 – 99th pct"], key="colour_range", default="0 – 99th pct", required=True,
    help="99th percentile: a few very large weights (a causal map's first row is 1.0) no longer darken "
         "everything else; hover values stay exact.",
)
figure_format_control(pick_format)
pick_weighting, pick_sinks, style_note = st.columns([1.4, 1, 3.2], vertical_alignment="bottom")
weighting_problem = cached_weighting_problem(key)
if weighting_problem and st.session_state.get("weighting") == "value-norm":
    st.session_state["weighting"] = "attention"  # the previous model could; this one cannot
pick_weighting.segmented_control(
    "Map values", list(WEIGHTINGS), key="weighting", default="attention", required=True,
    format_func=WEIGHTINGS.get, disabled=weighting_problem is not None,
    help=weighting_problem or "α: the attention weights. α·‖v W_O‖ (Kobayashi et al. 2020): each weight times the "
    "size of what that key's value writes through this head's share of the output projection — where the head's "
    "output actually comes from, not only where it looks.",
)
pick_sinks.toggle("Hide sinks", key="hide_sinks",
                  help="Set the first token and the special tokens to 0 in every map on this page and renormalise "
                       "each row over the other tokens, so the rest of the pattern becomes visible.")
if st.session_state.get("hide_sinks"):
    hidden = ", ".join(f"«{escape_markdown(capture.tokens[i])}» ({i})" for i in sink_tokens(key))
    style_note.info(f"Hidden in every map: {hidden}; each row renormalised over the other tokens (rows that "
                    "attended only these are blank). The statistics, the head comparison and the walkthrough keep "
                    "the model's own weights.", icon=":material/visibility_off:")
download.download_button(
    f"Download the capture (.npz, {npz_size(capture) / 1e6:.0f} MB)", data=lambda: capture_npz(capture_of(key)),
    file_name="attention-capture.npz", mime="application/octet-stream", on_click="ignore", icon=":material/download:",
    help="Weights, scores, mask, queries/keys/values (when the model exposes them), tokens and model id; "
         "layout in the README." if includes_maps(capture) else
         f"At {capture.seq_len} tokens the maps themselves would take {maps_bytes(capture) / 1e9:.1f} GB: the file "
         "holds the queries, keys, values, masks and scaling that compute every one of them (layout in the README).",
)

# bind: /?text_view=bertviz opens that tab (the Text page is served at the root), so a view can be linked
tabs = st.tabs(VIEWS, key="text_view", on_change="rerun", bind="query-params")
draws = (  # one per tab of VIEWS, built only when its tab is open
    lambda: maps.render(key, capture, layer, head),
    lambda: heads.render(key, capture, layer),
    lambda: walkthrough.render(key, capture, layer, head),
    lambda: bertviz.render(key, capture, layer),
    lambda: generation.render(key, layer, head),
    lambda: ablation.render(key, capture, layer, head),
    lambda: compare.render(key, capture, layer, head),
)
for tab, draw in zip(tabs, draws, strict=True):
    if tab.open:
        with tab:
            draw()
