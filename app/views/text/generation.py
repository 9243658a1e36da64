"""Generation tab: the model continues the text, and each generated token's attention over the KV cache is shown
step by step, with the next-token probabilities it was chosen from."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import streamlit as st
from shared import TextInput, cached_model, requested, show_figure
from state.text import GenerationInput, clip_percentile, generated

from components.heatmaps import attention_map, labelled_heatmap
from components.markdown import escape_markdown

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("gen_tokens", "gen_mode", "gen_temperature", "gen_seed", "gen_step")
# the figures this view draws once a generation is shown
FIGURES = ("gen_cache", "gen_heads", "gen_top")


def _top_figure(tokens, probabilities, chosen: str, step: int) -> go.Figure:
    labels = [f"{html.escape(t)}·{i}" for i, t in enumerate(tokens)]
    colours = ["#f59e0b" if t == chosen else "#6366f1" for t in tokens]
    fig = go.Figure(go.Bar(x=labels, y=list(probabilities), marker_color=colours,
                           hovertemplate="%{x}<br>p = %{y:.4f}<extra></extra>"))
    fig.update_layout(title=dict(text=f"next-token probabilities at step {step} (chosen in amber)",
                                 font=dict(size=13)), yaxis_title="probability", height=320,
                      margin=dict(l=10, r=10, t=50, b=10))
    fig.update_xaxes(type="category", tickangle=-45)
    return fig


def render(key: TextInput, layer: int, head: int) -> None:
    loaded = cached_model(*key.model)
    if loaded.lm_head is None or not loaded.exposes_scores:
        st.info(f"{loaded.name} cannot continue a text here: generation needs a causal model whose output "
                "embedding is tied to its input one (SmolLM2 is), so that its next-token logits are exact.")
        return
    with st.form("generation"):
        count, mode, temperature, seed = st.columns(4, vertical_alignment="bottom")
        count.number_input("New tokens", 1, 64, 20, key="gen_tokens")
        st.session_state.setdefault("gen_mode", "greedy")  # a default only once: the value is kept across tabs
        mode.segmented_control("Decoding", ["greedy", "sampled"], required=True, key="gen_mode")
        temperature.number_input("Temperature", 0.05, 5.0, 1.0, 0.05, key="gen_temperature",
                                 help="Sampling draws from softmax(logits / temperature); greedy ignores it.")
        seed.number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed", help="The same seed gives the same text.")
        run = st.form_submit_button("Generate", type="primary")
    request = requested(
        "gen_request", run, key,
        lambda: GenerationInput(key, int(st.session_state["gen_tokens"]), st.session_state["gen_mode"] == "sampled",
                                float(st.session_state["gen_temperature"]), int(st.session_state["gen_seed"])),
        "Choose the settings and press Generate: the model continues the text above, one token at a time, and "
        "every step's attention is recorded as it reads its own cache.")
    if request is None:
        return
    generation = generated(request)
    if generation is None:
        return
    prompt = len(generation.prompt_tokens)
    continuation = "".join(step.token for step in generation.steps)
    how = (f"sampled, temperature {generation.temperature:g}, seed {generation.seed}" if generation.sampled
           else "greedy")
    st.markdown(f"**Continuation** ({len(generation.steps)} tokens, {how}): "
                f"«{escape_markdown(continuation)}»")
    step = st.slider("Step", 0, len(generation.steps) - 1, len(generation.steps) - 1, key="gen_step") \
        if len(generation.steps) > 1 else 0
    chosen = generation.steps[step]
    reader = generation.tokens[prompt - 1 + step]
    st.markdown(f"Step {step}: the position «{escape_markdown(reader)}» ({prompt - 1 + step}) reads the "
                f"{prompt + step} cached positions and the model writes «{escape_markdown(chosen.token)}» "
                f"(p = {chosen.probability:.3f}).")
    left, right = st.columns(2, gap="large")
    with left:
        figure = attention_map(
            generation.cache_map(layer, head).numpy(), [f"{s}: {t.token}" for s, t in enumerate(generation.steps)],
            list(generation.tokens[:-1]), title=f"every step · layer {layer} · head {head}",
            clip_percentile=clip_percentile())
        figure.update_yaxes(title="step: token written")
        show_figure(figure, f"generation-L{layer}-H{head}", key="gen_cache")
        st.caption("Row s: what the position before token s attended to when the model chose it; the row grows by "
                   "one cached position per step. The prompt's own maps are in the Maps tab.")
    with right:
        heads = labelled_heatmap(chosen.rows[layer].numpy(), [f"H{h}" for h in range(chosen.rows.shape[1])],
                                 list(generation.tokens[: prompt + step]), title=f"step {step} · layer {layer} · "
                                 "every head", row_title="head", column_title="key (cached position)")
        show_figure(heads, f"generation-step{step}-L{layer}", key="gen_heads")
        show_figure(_top_figure(chosen.top_tokens, chosen.top_probabilities, chosen.token, step),
                    f"generation-top-step{step}", key="gen_top")
