"""The Text page for an encoder–decoder: type a source, the model writes its output greedily, and the page shows
the encoder's self-attention, the decoder's causal self-attention and the cross-attention (output × source), per
layer and head, replayed step by step, and in bertviz."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from shared import show_figure
from state.text import TranslationInput, cached_translation_bertviz, cached_translation_mosaic, translated

from components.bertviz_embed import view_bytes
from components.heatmaps import attention_map, labelled_heatmap
from components.markdown import escape_markdown
from models.dates.model import source_text, trained_results
from models.dates.task import held_out_example
from models.engine.loading import LoadedModel
from models.text.seq2seq import Seq2SeqCapture, replayed, strongest_keys

# input widgets whose values survive a tab switch or a visit to another model (shared.keep_widget_state)
WIDGETS = ("source", "max_new_tokens", "s2s_kind", "s2s_layer", "s2s_head", "s2s_step", "s2s_bv_layers")
# the figures this view draws, by key: tests count them from here
FIGURES = ("s2s_mosaic", "s2s_map", "s2s_step_cross", "s2s_step_decoder")
KINDS = {"cross": "Cross-attention", "decoder": "Decoder self-attention", "encoder": "Encoder self-attention"}
VIEWS = ("Maps", "Step by step", "bertviz")
DEFAULT_SOURCE = "The house is wonderful."
T5_PREFIX = "translate English to German: "  # T5 reads its task from the source
VIEW_BUDGET = 1_500_000  # bytes of attention data per bertviz view


def _show_test_date(index: int) -> None:
    st.session_state["source"] = source_text(held_out_example(index))
    st.session_state["test_date"] = index


def _within(key: str, options: int) -> None:
    """A kept choice that the new translation or model no longer offers falls back to the first."""
    if st.session_state.get(key, 0) >= options:
        st.session_state[key] = 0


def render(loaded: LoadedModel, model_key: tuple[str, str, str]) -> None:
    results = trained_results(loaded.source)
    defaults = {source_text(held_out_example(0)): 0, DEFAULT_SOURCE: None, T5_PREFIX + DEFAULT_SOURCE: None}
    if st.session_state.get("source", DEFAULT_SOURCE) in defaults:  # untouched: this model's own default
        default = (source_text(held_out_example(0)) if results else
                   T5_PREFIX + DEFAULT_SOURCE if loaded.family == "t5" else DEFAULT_SOURCE)
        st.session_state["source"], st.session_state["test_date"] = default, defaults[default]
    if results:
        previous = st.session_state.get("test_date")
        index = 0 if previous is None else (previous + 1) % results["test_examples"]
        st.button("A held-out test date", on_click=_show_test_date, args=(index,), icon=":material/casino:",
                  help=f"Test date {index} of the {results['test_examples']} this model was measured on: "
                       "never seen in training.")
    st.session_state.setdefault("max_new_tokens", 32)
    with st.form("source_input"):
        st.text_area("Source", key="source", height=90, max_chars=20_000,
                     help="The encoder reads this; the decoder then writes the output one token at a time, "
                          "greedily (the most likely token each step).")
        st.number_input("Longest output (tokens)", 1, 512, key="max_new_tokens",
                        help="Generation stops at the model's end token or here, whichever comes first.")
        st.form_submit_button("Translate", type="primary")
    key = TranslationInput(model_key, st.session_state["source"], int(st.session_state["max_new_tokens"]))
    capture = translated(key)
    if capture is None:
        return
    _summary(capture, results)
    kind_column, layer_column, head_column = st.columns([2.2, 1, 1], vertical_alignment="bottom")
    st.session_state.setdefault("s2s_kind", "cross")  # a default only once: the value is kept across models
    kind = kind_column.segmented_control("Attention", list(KINDS), format_func=KINDS.get, key="s2s_kind",
                                         required=True)
    layers = capture.layers(kind)
    _within("s2s_layer", len(layers))
    layer = layer_column.selectbox("Layer", range(len(layers)), key="s2s_layer", format_func=lambda i: f"Layer {i}")
    _within("s2s_head", layers[layer].num_heads)
    head = head_column.selectbox("Head", range(layers[layer].num_heads), key="s2s_head",
                                 format_func=lambda i: f"Head {i}")
    steps = len(capture.decoder_tokens)
    if st.session_state.get("s2s_for") != key or st.session_state.get("s2s_step", steps) >= steps:
        st.session_state["s2s_step"] = steps - 1  # a new translation opens on its last step: the whole output
        st.session_state["s2s_for"] = key
    step = st.select_slider(
        "Generation step", range(steps), key="s2s_step",
        format_func=lambda s: f"{s}: reads «{capture.decoder_tokens[s]}», writes «{capture.output_tokens[s]}»",
        help="Replay the generation: at step s the decoder reads the tokens written so far and writes the next. "
             "Rows of the decoder and cross maps after step s are not computed yet (blank).",
    ) if steps > 1 else 0
    maps_tab, steps_tab, bertviz_tab = st.tabs(VIEWS, key="s2s_view", on_change="rerun")
    if maps_tab.open:
        with maps_tab:
            _maps(key, capture, kind, layer, head, step)
    if steps_tab.open:
        with steps_tab:
            decoder_layer = min(layer, len(capture.decoder) - 1)  # the encoder may have more layers or heads
            _steps(capture, decoder_layer, min(head, capture.cross[decoder_layer].num_heads - 1), step, results)
    if bertviz_tab.open:
        with bertviz_tab:
            _bertviz(key, capture)


def _summary(capture: Seq2SeqCapture, results: dict | None) -> None:
    if capture.dropped_tokens:
        st.warning(f"The source is {len(capture.source_tokens) + capture.dropped_tokens} tokens long; the last "
                   f"{capture.dropped_tokens} were dropped to fit this model's {len(capture.source_tokens)} positions.")
    if capture.unknown_words:
        words = ", ".join(f"«{escape_markdown(w)}»" for w in dict.fromkeys(capture.unknown_words))
        st.warning(f"Not in this model's vocabulary, read as its unknown token: {words}.",
                   icon=":material/help:")
    output = escape_markdown(capture.output_text) or "(nothing: the model ended at once)"
    st.markdown(f"**Output:** {output}")
    index = st.session_state.get("test_date")
    if results and index is not None and st.session_state["source"] == source_text(held_out_example(index)):
        expected = held_out_example(index).target
        verdict = "right" if capture.output_text == expected else "wrong"
        st.caption(f"Test date {index}: the answer is {expected}, so the model is {verdict}. On all "
                   f"{results['test_examples']} test dates it is right {results['test_accuracy']:.1%} of the time.")
    encoder, decoder = capture.encoder[0], capture.decoder[0]
    st.markdown(
        f"**{len(capture.source_tokens)} source tokens → {len(capture.output_tokens)} output tokens** · encoder "
        f"{len(capture.encoder)} layers × {encoder.num_heads} heads · decoder {len(capture.decoder)} layers × "
        f"{decoder.num_heads} heads, each layer with self-attention (causal) and cross-attention · greedy decoding"
    )


def _maps(key: TranslationInput, capture: Seq2SeqCapture, kind: str, layer: int, head: int, step: int) -> None:
    overview, detail = st.columns([1, 1.35], gap="large")
    with overview:
        st.subheader(f"{KINDS[kind]}: all layers × heads")
        st.caption("Each thumbnail is one head over the whole output, its colour saturating at its own 99th "
                   "percentile.")
        show_figure(cached_translation_mosaic(key, kind, 40), f"{kind}-mosaic", key="s2s_mosaic")
    with detail:
        weights = capture.layers(kind)[layer]
        queries, keys = capture.axes(kind)
        z = weights.head_weights(head).numpy()
        after = "" if kind == "encoder" else f" · after step {step}"
        if kind != "encoder":
            z = replayed(z, step)
        st.subheader(f"Layer {layer} · head {head}{after}")
        figure = attention_map(z, queries, keys, mask=None if weights.mask is None else weights.mask.numpy(),
                               title=f"{capture.model_name} · {KINDS[kind].lower()} · layer {layer} · head {head}"
                                     f"{after}")
        if kind == "cross":
            figure.update_xaxes(title="source token (key, from the encoder)")
            figure.update_yaxes(title="output token being written (query)")
        show_figure(figure, f"{kind}-L{layer}-H{head}", key="s2s_map")
        st.caption({
            "encoder": "The encoder runs once over the whole source before the first step, in both directions.",
            "decoder": "Row s: what the decoder, reading the token in that row, looks at among the tokens written "
                       "so far (causal: grey cells are the future).",
            "cross": "Row s: where the decoder looks in the source while writing output token s — the alignment of "
                     "output with source.",
        }[kind] + f" Module `{weights.name}`.")


def _steps(capture: Seq2SeqCapture, layer: int, head: int, step: int, results: dict | None) -> None:
    cross, decoder = capture.cross[layer], capture.decoder[layer]
    heads = [f"H{h}" for h in range(cross.num_heads)]
    writes = capture.output_tokens[step]
    st.subheader(f"Step {step}: reads «{capture.decoder_tokens[step]}», writes «{writes}» · decoder layer {layer}")
    left, right = st.columns(2, gap="large")
    with left:
        figure = labelled_heatmap(cross.weights[:, step].numpy(), heads, capture.source_tokens,
                                  title=f"Every head's cross-attention at step {step}", row_title="head",
                                  column_title="source token")
        figure.update_layout(height=int(min(600, 220 + 30 * cross.num_heads)))
        show_figure(figure, f"cross-step{step}-L{layer}", key="s2s_step_cross")
    with right:
        seen = decoder.weights[:, step, : step + 1].numpy()
        figure = labelled_heatmap(seen, heads, capture.decoder_tokens[: step + 1],
                                  title=f"Every head's decoder self-attention at step {step}", row_title="head",
                                  column_title="token written so far")
        figure.update_layout(height=int(min(600, 220 + 30 * cross.num_heads)))
        show_figure(figure, f"decoder-step{step}-L{layer}", key="s2s_step_decoder")
    st.markdown(f"**Where head {head} of layer {layer} reads most, step by step**")
    path = strongest_keys(cross.head_weights(head))
    table = pd.DataFrame({
        "reads": capture.decoder_tokens, "writes": capture.output_tokens,
        "source token weighed most": [f"{capture.source_tokens[k]} ({k})" for k, _ in path],
        "its weight": [w for _, w in path],
    })
    st.dataframe(table.style.format({"its weight": "{:.3f}"}).highlight_between(
        subset=pd.IndexSlice[[step], :], color="#fde68a"), key="s2s_path")
    if results:
        rates = np.asarray(results["alignment"]) * 100  # (decoder layers, heads)
        st.markdown("**How often each cross-attention head reads the right words**, measured on the "
                    f"{results['test_examples']} test dates by `{results['command']}`")
        figure = labelled_heatmap(rates, [f"L{i}" for i in range(len(rates))], [f"H{h}" for h in range(rates.shape[1])],
                                  title="% of output digits whose strongest cross-attention weight is on the words "
                                        "they come from", value_name="% aligned", row_title="layer",
                                  column_title="head", zmin=0, zmax=100)
        figure.update_layout(height=260, margin=dict(t=110))
        show_figure(figure, "dates-alignment", key="s2s_alignment")
        st.caption("Year digits come from the year words, month digits from the month's name, day digits from the "
                   "day's words; the dashes are left out.")


def _bertviz(key: TranslationInput, capture: Seq2SeqCapture) -> None:
    st.caption("bertviz 1.4.1 (Jesse Vig), offline: choose Encoder, Decoder or Cross in its menu. Hover a token to "
               "see its attention; click a head's colour to hide it.")
    shared = min(len(capture.encoder), len(capture.decoder))
    size = max(len(capture.source_tokens), len(capture.decoder_tokens))
    per_layer = 3 * view_bytes(1, max(capture.encoder[0].num_heads, capture.decoder[0].num_heads), size)
    fitting = max(1, min(shared, VIEW_BUDGET // max(1, per_layer)))
    st.session_state.setdefault("s2s_bv_layers", list(range(fitting)))
    st.session_state["s2s_bv_layers"] = [i for i in st.session_state["s2s_bv_layers"] if i < shared]
    chosen = st.multiselect("Layers", range(shared), key="s2s_bv_layers",
                            format_func=lambda i: f"Layer {i}")
    if shared < max(len(capture.encoder), len(capture.decoder)):
        st.caption(f"bertviz pairs encoder and decoder layers by number: the first {shared} of each are shown.")
    if not chosen:
        st.info("Choose at least one layer.")
        return
    layers = tuple(sorted(chosen))
    st.markdown("**Head view**")
    st.iframe(cached_translation_bertviz(key, "head", layers), height=min(2600, 160 + 26 * size))
    st.markdown("**Model view**")
    st.iframe(cached_translation_bertviz(key, "model", layers), height=min(4000, 160 + 180 * len(layers)))
