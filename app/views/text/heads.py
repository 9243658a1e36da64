"""Single head vs multi-head: a layer's heads, their average, and the same layer as one full-width head."""

from __future__ import annotations

import streamlit as st
from shared import TextInput, lacks_scores_notice, show_figure
from state.text import cached_comparison, cached_thumbnails, clip_percentile

from components.heatmaps import attention_map, head_grid, labelled_heatmap
from models.engine.capture import AttentionCapture

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ()
# the figures this view draws, by key: benchmarks and tests count them from here
FIGURES = ("head_grid", "average", "single", "divergence")


def _derivation(capture: AttentionCapture, layer: int) -> str:
    weights = capture.layers[layer]
    heads = capture.num_heads
    if weights.query is None:
        return ""
    width = weights.query.shape[-1]
    model_dim = heads * width
    factor = weights.scaling * width**0.5  # the model's scaling relative to 1/sqrt(d): 1 for most models
    if abs(factor - 1.0) < 1e-6:
        scaling, full = rf"1 / \sqrt{{{width}}}", rf"\frac{{Q K^\top}}{{\sqrt{{{model_dim}}}}}"
        own = ""
    else:
        scaling, full = rf"{weights.scaling:.6g}", rf"{factor:.6g}\,\frac{{Q K^\top}}{{\sqrt{{{model_dim}}}}}"
        own = (rf" This layer does not scale by $1/\sqrt{{{width}}}$ but by $s = {weights.scaling:.6g}$, "
               rf"that is ${factor:.6g}/\sqrt{{{width}}}$; the full-width head keeps the same factor ${factor:.6g}$.")
    bias_note = ""
    if weights.bias is not None:  # scores include the bias: s_h = q_h k_h^T * s + b_h
        scaling, full = scaling + " + b_h", full + rf" + \frac{{\sum_h b_h}}{{\sqrt{{{heads}}}}}"
        bias_note = (" Here $b_h$ is the bias the model adds to each head's scores (ALiBi or relative positions); "
                     "the biases add up like the scores.")
    return rf"""
**Why the third map is one head over the full width.** Layer {layer} has $H = {heads}$ heads of width
$d = {width}$, so its concatenated queries and keys are $d_\text{{model}} = H \cdot d = {heads} \times {width}
= {model_dim}$ wide. Head $h$ scores $s_h = q_h k_h^\top \cdot {scaling}$.{own} Concatenation makes
$Q K^\top = \sum_h q_h k_h^\top$, so a single head with the same $Q$ and $K$ would compute

$$
\operatorname{{softmax}}\!\left({full}\right)
= \operatorname{{softmax}}\!\left(\frac{{\sum_h s_h}}{{\sqrt{{{heads}}}}}\right).
$$
{bias_note}
One softmax instead of {heads}: every query gets one weighting of the keys instead of {heads}
different ones mixed afterwards by $W^O$.
"""


def render(key: TextInput, capture: AttentionCapture, layer: int) -> None:
    if lacks_scores_notice(capture, "The single-head equivalent"):
        return
    comparison = cached_comparison(key, layer)
    weights = capture.layers[layer]
    mask = None if weights.mask is None else weights.mask.numpy()
    start, clip = capture.second_segment, clip_percentile()
    st.subheader(f"Layer {layer}: {capture.num_heads} heads, their average, and one head over the full width")
    heads, average, single = st.columns(3, gap="medium")
    with heads:
        st.markdown(f"**(a) Every head** ({capture.num_heads})")
        show_figure(head_grid(cached_thumbnails(key, layer, 96), columns=4), f"heads-L{layer}", key="head_grid")
        st.caption("Each saturating at its own 99th percentile; inputs over 96 tokens are averaged into blocks.")
    with average:
        st.markdown("**(b) Head average**")
        show_figure(attention_map(comparison.average.numpy(), capture.tokens, mask=mask, segment_start=start,
                                  title=f"mean of {capture.num_heads} heads", clip_percentile=clip,
                                  max_labels=12), f"average-L{layer}", key="average")
    with single:
        st.markdown("**(c) Single-head equivalent**")
        show_figure(attention_map(comparison.equivalent.numpy(), capture.tokens, mask=mask, segment_start=start,
                                  title="softmax(Σₕ scoresₕ / √H + mask)", clip_percentile=clip,
                                  max_labels=12), f"single-head-L{layer}", key="single")
    left, right = st.columns([1.2, 1], gap="large")
    with left:
        if comparison.not_one_softmax is not None:
            st.warning(f"(c) is not one head of this model: {comparison.not_one_softmax}. It is shown as "
                       "softmax(Σₕ scoresₕ / √H + mask) of the heads' own scores, and no check against QKᵀ is made.")
        else:
            st.markdown(_derivation(capture, layer))
        if comparison.equivalence_error is not None:
            st.markdown(
                f"Checked on this input: (c) against softmax(QKᵀ · s/√H) recomputed from the layer's "
                f"concatenated queries and keys: max |difference| = `{comparison.equivalence_error:.2e}` "
                f"(float32 rounding at these magnitudes: up to `{comparison.equivalence_tolerance:.1e}`)."
            )
        st.markdown(
            f"The average (b) and the one-head map (c) are different things: mean Jensen–Shannon divergence "
            f"between their rows = `{comparison.average_vs_equivalent:.3f}` bits."
        )
    with right:
        divergence = comparison.divergence.numpy()
        labels = [f"H{h}" for h in range(capture.num_heads)]
        figure = labelled_heatmap(divergence, labels, labels, title="How different the heads are (JS divergence)",
                                  value_name="bits", row_title="head", column_title="head")
        figure.update_layout(height=int(min(600, 200 + 22 * capture.num_heads)), margin=dict(t=90))
        show_figure(figure, f"head-divergence-L{layer}", key="divergence")
        st.caption(
            f"0 bits: two heads attend identically; 1 bit: never to the same tokens. Mean over head pairs: "
            f"{comparison.mean_divergence:.3f} bits — what extra heads add that one head cannot."
        )
