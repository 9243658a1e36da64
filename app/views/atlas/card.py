"""One head's card: every measure with its rank among the model's heads, the heads most like it, and its top
examples drawn as maps."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st
from shared import TextInput, capture_of, show_figure

from components.heatmaps import labelled_heatmap
from models.atlas.atlas import Atlas
from models.atlas.job import MAX_TOKENS
from models.atlas.measures import DESCRIPTIONS
from models.atlas.reading import EXAMPLE_MEASURES, MEASURES
from models.engine.capture import CaptureError

WIDGETS = ("atlas_examples_of",)


def _select(layer: int, head: int) -> None:
    st.session_state["atlas_layer"], st.session_state["atlas_head"] = layer, head


def _measures_table(atlas: Atlas, layer: int, head: int) -> pd.DataFrame:
    heads = atlas.num_layers * atlas.num_heads
    return pd.DataFrame({
        "measure": MEASURES,
        "value": [atlas.grid(m)[layer, head] for m in MEASURES],
        "rank": [f"{rank} of {heads}" if (rank := atlas.rank(m, layer, head)) else "not measured" for m in MEASURES],
        "what it is": [DESCRIPTIONS[m] for m in MEASURES],
    })


def _highlighted(text: str, query_token: str, key_token: str, value: float) -> str:
    return (f"{html.escape(text)}  \n<span style='opacity:.7'>strongest cell: query `{html.escape(query_token)}` → "
            f"key `{html.escape(key_token)}` · value {value:.3f}</span>")


def _example_map(model_key: tuple[str, str, str], text: str, layer: int, head: int, cell: tuple[int, int]) -> None:
    try:
        capture = capture_of(TextInput(model_key, text, None, MAX_TOKENS))
    except CaptureError as error:
        st.warning(str(error))
        return
    tokens = capture.tokens
    weights = capture.layers[layer].head_weights(head).numpy()
    figure = labelled_heatmap(weights, tokens, tokens, title=f"L{layer} H{head} on this text", max_labels=40)
    query, key = cell
    figure.add_shape(type="rect", x0=key - 0.5, x1=key + 0.5, y0=query - 0.5, y1=query + 0.5,
                     line=dict(color="#ff2b2b", width=2))
    figure.update_layout(height=int(min(520, 160 + 14 * len(tokens))))
    show_figure(figure, f"atlas-L{layer}-H{head}", key=f"atlas_example_{hash(text)}")


def syntax_table(rows: list[dict], with_head: bool) -> pd.DataFrame:
    """Relations as a table: accuracy beside the best fixed-offset baseline (Clark et al. 2019)."""
    table = pd.DataFrame({
        "relation": [r["relation"] for r in rows], "direction": [r["direction"] for r in rows],
        "accuracy": [r["accuracy"] for r in rows], "offset baseline": [r["baseline"] for r in rows],
        "best offset": [f"{r['baseline_offset']:+d}" for r in rows], "dependents": [r["count"] for r in rows],
    })
    if with_head:
        table.insert(0, "head", [f"L{r['layer']} H{r['head']}" for r in rows])
    return table


def _syntax(atlas: Atlas, layer: int, head: int) -> None:
    rows = atlas.syntax(layer, head)
    if not rows:
        st.caption("No dependency relation was seen often enough in this atlas's corpus to measure syntax.")
        return
    best = rows[0]
    verdict = "beats" if best["accuracy"] > best["baseline"] else "does not beat"
    st.markdown(f"**Syntax.** The relation it tracks best: **{best['relation']}** ({best['direction']}): its "
                f"most-attended other word is the right one for {best['accuracy']:.0%} of {best['count']} "
                f"dependents; it {verdict} the best fixed offset ({best['baseline_offset']:+d} words: "
                f"{best['baseline']:.0%}).")
    with st.expander("Every relation for this head"):
        st.dataframe(syntax_table(rows, with_head=False), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.2f")
                                    for c in ("accuracy", "offset baseline")})


def render(atlas: Atlas, layer: int, head: int, model_key: tuple[str, str, str] | None) -> None:
    st.subheader(f"Layer {layer} · head {head}")
    left, right = st.columns([2, 1], gap="large")
    with left:
        st.dataframe(_measures_table(atlas, layer, head), hide_index=True, width="stretch",
                     column_config={"value": st.column_config.NumberColumn(format="%.3f")})
    with right:
        st.markdown("**Heads like this one** (nearest by all measures, each standardised)")
        for other_layer, other_head, distance in atlas.similar_heads(layer, head):
            st.button(f"L{other_layer} H{other_head} · distance {distance:.2f}", on_click=_select,
                      key=f"atlas_like_{other_layer}_{other_head}", args=(other_layer, other_head), width="stretch")
    measured = [m for m in EXAMPLE_MEASURES if atlas.rank(m, layer, head)]
    _syntax(atlas, layer, head)
    best = min(measured, key=lambda m: atlas.rank(m, layer, head))  # the role it ranks highest in, on texts
    measure = st.selectbox("Top examples for", measured, index=measured.index(best),
                           key="atlas_examples_of",
                           format_func=lambda m: f"{m} — {DESCRIPTIONS[m]}")
    examples = atlas.examples(layer, head, measure)
    same_model = model_key is not None and model_key[0] == atlas.model
    if not same_model:
        st.caption(f"Choose {atlas.model} in the sidebar to see these examples drawn as this head's maps.")
    for example in examples[:3]:
        st.markdown(_highlighted(example["text"], example["query_token"], example["key_token"], example["value"]),
                    unsafe_allow_html=True)
        if same_model:
            _example_map(model_key, example["text"], layer, head, (example["query"], example["key"]))
