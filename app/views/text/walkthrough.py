"""Walkthrough tab: one token through one head with the real vectors, then every head through W^O."""

from __future__ import annotations

import streamlit as st
from shared import TextInput, lacks_scores_notice, show_figure
from state.text import cached_walkthrough

from components.markdown import escape_markdown
from components.walkthrough import token_bars, vector_heatmap
from models.engine.capture import AttentionCapture

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("walk_token",)
# the figures this view draws, by key: benchmarks and tests count them from here
FIGURES = ("walk_q", "walk_k", "walk_v", "walk_scores", "walk_w", "walk_out", "walk_concat",
           "walk_proj")


def _difference(label: str, value: float | None, tolerance: float | None) -> None:
    if value is None:
        st.markdown(f"{label}: not available")
        return
    st.markdown(f"{label}: max |hand − model| = `{value:.2e}` "
                f"(float32 rounding at these magnitudes: up to `{tolerance:.1e}`)")


def render(key: TextInput, capture: AttentionCapture, layer: int, head: int) -> None:
    if lacks_scores_notice(capture, "The Q·K·V walkthrough"):
        return
    tokens = capture.tokens
    token = st.selectbox("Query token", range(len(tokens)), index=len(tokens) // 2, key="walk_token",
                         format_func=lambda i: f"{i}: {tokens[i]}")
    walk = cached_walkthrough(key, layer, head, token)
    step, var = walk.head, walk.variance
    h, d = walk.num_heads, walk.head_dim
    kv_note = (f" This query head reads key/value head {step.kv_head}: under grouped-query attention "
               f"{h // capture.kv_heads} query heads share it." if capture.kv_heads else "")
    st.markdown(
        f"**1 · Query, keys, values.** Layer {layer}, head {head}, token {token} «{escape_markdown(tokens[token])}». "
        f"The layer's projections give {h * d}-wide queries, keys and values = {h} heads × {d}; "
        f"this head uses a {d}-wide slice of each.{kv_note}"
    )
    show_figure(vector_heatmap(step.query.numpy(), [tokens[token]], f"query q  ({d},)"), "query", key="walk_q")
    keys_col, values_col = st.columns(2)
    with keys_col:
        show_figure(vector_heatmap(step.keys.numpy(), tokens, f"keys K  ({len(tokens)}, {d})"), "keys", key="walk_k")
    with values_col:
        show_figure(vector_heatmap(step.values.numpy(), tokens, f"values V  ({len(tokens)}, {d})"), "values",
                    key="walk_v")

    factor = f" = 1/√{d}" if step.scaled_by_sqrt_d else " (this model's own factor)"
    st.markdown(
        f"**2 · Scores and scaling.** Raw scores q·k, then × {step.scaling:.4f}"
        f"{factor}. Seed 002's argument: if the "
        f"components of q and k had mean 0 and variance 1, q·k would have variance d = {d}. In this head:"
    )
    cols = st.columns(4)
    cols[0].metric("var of q components", f"{var.query_component:.3f}")
    cols[1].metric("var of k components", f"{var.key_component:.3f}")
    cols[2].metric("var(q·k), raw", f"{var.raw:.2f}")
    cols[3].metric("var after scaling", f"{var.scaled:.3f}")
    st.caption("Variances over every (query, key) pair this head may attend, on this input.")
    series = {"q·k": step.raw_scores.numpy(), "q·k × scaling": step.scaled_scores.numpy()}
    added = [f"soft-capped: {step.softcap:g} · tanh(score / {step.softcap:g})" if step.softcap is not None else "",
             "plus the model's position bias for this head" if step.bias is not None else ""]
    if step.adds_to_scaling:
        series["what the softmax sees"] = step.scores.numpy()
        st.markdown("This model does more before its softmax: " + "; ".join(a for a in added if a) + ".")
    show_figure(token_bars(series, tokens, step.allowed.numpy(), f"scores of token {token} against every key",
                           "score"), "scores", key="walk_scores")

    sink = (f", with this head's sink logit {step.sink:.3f} as one more column that is dropped afterwards: "
            f"the weights sum to {step.weights.sum():.3f}, the rest went to the sink" if step.sink is not None else "")
    st.markdown(
        f"**3 · Softmax.** Weights = softmax(scores{' + causal mask' if capture.causal else ''}{sink}). "
        f"Without the scaling the largest weight would be {step.unscaled_weights.max():.3f} instead of "
        f"{step.weights.max():.3f}: the softmax saturates and its gradients vanish."
    )
    show_figure(token_bars({"softmax(scaled) — the model": step.weights.numpy(),
                            "softmax(raw) — without scaling": step.unscaled_weights.numpy()},
                           tokens, step.allowed.numpy(), "attention weights", "weight"), "weights", key="walk_w")
    _difference("Hand weights vs the captured map's row", step.weights_error, step.weights_tolerance)

    st.markdown(f"**4 · Weighted sum of values.** output = Σₖ wₖ vₖ, a {d}-wide vector.")
    show_figure(vector_heatmap(
        [step.output.numpy(), step.model_output.numpy()], ["by hand", "model"], f"head {head} output  ({d},)"),
        "head-output", key="walk_out")
    _difference("Hand output vs the model's attention output for this head", step.output_error,
                step.output_tolerance)

    st.markdown(
        f"**5 · Concatenate the heads, project with Wᴼ.** All {h} heads' outputs for this token, side by side: "
        f"{h} × {d} = {h * d}."
    )
    show_figure(vector_heatmap([walk.concat.numpy()], ["concat"], f"concatenated heads  ({h * d},)"),
                "concat", key="walk_concat")
    _difference("Hand concatenation vs the model's", walk.concat_error, walk.concat_tolerance)
    if walk.projection_name is None:
        st.info("This model family keeps its output projection somewhere Attention Lens does not recognise.")
        return
    rows, out = walk.projection_shape
    show_figure(vector_heatmap([walk.projected.numpy(), walk.model_projected.numpy()], ["by hand", "model"],
                               f"concat · Wᴼ + b  — Wᴼ is ({rows}, {out}), module {walk.projection_name}"),
                "projected", key="walk_proj")
    _difference(f"Hand Wᴼ projection vs the model's `{walk.projection_name}`", walk.projection_error,
                walk.projection_tolerance)
    st.caption("The residual connection (and, in most models, a layer norm) follow; they are not attention.")
