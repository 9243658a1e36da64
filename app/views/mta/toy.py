"""The toy task, trained here: a baseline transformer and the same model with MTA, on one example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from shared import show_figure
from state.mta import cached_held_out, cached_toy_reading, cached_toy_runs, cached_typical_example

from components.curves import learning_curves
from components.heatmaps import attention_map, kernel_labels, labelled_heatmap
from models.mta.toy_experiment import BEYOND_BUDGET, SHIPPED, carried_curve
from models.mta.toy_model import RATES, learned_kernels
from models.mta.toy_task import QUERY, SEPARATOR, PromptError, decode, parse_prompt

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("toy_seed", "toy_example", "toy_prompt", "toy_head")
LABELS = {"baseline": "Transformer (baseline)", "mta": "MTA (c_q = 2, c_k = 2N − 1, pre-softmax)"}


def _results(folder: Path = SHIPPED) -> str | None:
    path = folder / "results.md"
    return path.read_text() if path.exists() else None


def _kernel_figure(kernels: np.ndarray, layer: int):
    """One layer's learned kernels, heads stacked: rows 'H0 q−1', 'H0 q0', ...; columns key offsets."""
    heads, c_q, c_k = kernels.shape
    offsets, columns = kernel_labels(c_q, c_k)
    rows = [f"H{h} {offset}" for h in range(heads) for offset in offsets]
    fig = labelled_heatmap(kernels.reshape(heads * c_q, c_k), rows, columns, title=f"layer {layer}", value_name="tap",
                           row_title="head, query offset", column_title="key offset", zmin=None, zmid=0,
                           colorscale="RdBu_r")
    fig.update_layout(height=150 + 28 * heads * c_q, margin=dict(t=90))
    return fig


def render() -> None:
    runs = cached_toy_runs()
    if not runs:
        st.error(f"No trained toy models in {SHIPPED}: run `python -m models.mta.toy_experiment` to make them.")
        return
    any_task = next(iter(runs.values()))[1]
    st.markdown(
        f"**The task.** {any_task.blocks} blocks of N = {any_task.block_size} random letters, separated by `.`; "
        f"then `#` and {any_task.query_letters} query letters. Exactly one block holds both query "
        "letters; the model must write that block. Plain attention compares one query with one key at a time, "
        "so it cannot see *both* letters in one block at once; MTA's key-query convolution can. Both models "
        "were trained here from scratch, 3 seeds each, by `python -m models.mta.toy_experiment`, with the "
        "official recipe where a 2-core CPU allows it (the README lists every departure)."
    )
    results = _results()
    if results:
        with st.expander("Three rates over 3 seeds, the error beside the paper's", expanded=True):
            st.markdown(results)
    beyond = _results(BEYOND_BUDGET)
    with st.expander("Learning curves (300 test examples, every 250 steps)"
                     + (", carried on past the budget" if beyond else "")):
        for kind in LABELS:
            curves = {name.split("-")[1]: carried_curve(name) for name in runs if name.startswith(kind)}
            budget = next((end for _, end in curves.values() if end is not None), None)
            mark = None if budget is None else (budget, "the table: end of the 2-hour budget")
            show_figure(learning_curves({seed: rows for seed, (rows, _) in curves.items()}, RATES,
                                        f"{LABELS[kind]}: error, located, copied", mark=mark),
                        f"toy-curves-{kind}", key=f"toy_curves_{kind}")
        if beyond:
            st.markdown("**The same runs carried on past the budget**, to see whether more steps help (the curves "
                        "after the dotted line):\n\n" + beyond)

    seeds = sorted({int(name.rsplit("seed", 1)[1]) for name in runs})
    pick, example_col, prompt_col = st.columns([1, 1, 3])
    seed = pick.selectbox("Trained seed", seeds, key="toy_seed")
    models = [name for name in (f"baseline-seed{seed}", f"mta-seed{seed}") if name in runs]
    task = runs[models[0]][1]
    held_out = cached_held_out(task)
    typical = cached_typical_example(tuple(models))
    if st.session_state.get("toy_typical_for") != seed:  # each seed opens on its own typical example
        st.session_state["toy_example"] = typical or 0
        st.session_state["toy_typical_for"] = seed
    number = example_col.number_input("Test example", 0, len(held_out) - 1, key="toy_example",
                                      help="One of the test examples the rates are measured on.")
    typed = prompt_col.text_input("…or type a prompt", key="toy_prompt", placeholder="abcde.fghij.…#bd",
                                  help="Blocks of letters separated by '.', then '#' and the query letters.")
    if typed.strip():
        try:
            prompt, block = parse_prompt(task, typed)
        except PromptError as error:
            st.error(str(error))
            return
    else:
        prompt, block = parse_prompt(task, decode(held_out[number, 1 : task.prompt_length]))
    expected = prompt.split(QUERY)[0].split(SEPARATOR)[block]
    # prompts and answers are only ever task tokens (a-z . # ^ $ _): safe inside code spans as they are
    st.markdown(f"Prompt `{prompt}` · the block holding both letters: **{block}** (`{expected}`)")
    if not typed.strip() and number == typical:
        st.caption(f"Test example {typical} is shown first because each model does with it what it does most "
                   "often on the test set (its most frequent outcome: right, another block, only the first letter "
                   "right, or no block).")
    heads = runs[models[0]][0].config.heads
    head = st.segmented_control("Head", list(range(heads)), default=0, key="toy_head", required=True,
                                format_func=lambda h: f"Head {h}")
    for column, name in zip(st.columns(len(models), gap="large"), models, strict=True):
        model = runs[name][0]
        reading = cached_toy_reading(name, prompt, block)
        kind = name.split("-seed")[0]
        with column:
            st.subheader(LABELS[kind])
            verdict = st.success if reading.answer == expected else st.error
            verdict(f"Answer `{reading.answer}` — "
                    + ("right" if reading.answer == expected else f"wrong (the block is `{expected}`)"))
            share = reading.block_share.numpy()
            st.markdown(f"The last query letter pays **{share[reading.found_layer].mean():.0%}** of its attention "
                        f"(mean over heads) to the right block in **layer {reading.found_layer}**, the most of any "
                        "layer: that is where the block is found.")
            tokens = list("^" + prompt + reading.answer)
            layer_map = reading.maps[reading.found_layer][head].numpy()
            mask = np.tril(np.ones_like(layer_map, dtype=bool))
            show_figure(attention_map(layer_map, tokens, mask=mask, clip_percentile=99, max_labels=80,
                                      title=f"{kind} · layer {reading.found_layer} · head {head}"),
                        f"toy-{name}-L{reading.found_layer}-H{head}", key=f"toy_map_{kind}")
            share_figure = labelled_heatmap(share, [f"layer {i}" for i in range(len(share))],
                                            [f"head {h}" for h in range(share.shape[1])], value_name="share",
                                            title="attention of the last query letter on the right block",
                                            row_title="layer",
                                            column_title="head", zmax=1.0)
            share_figure.update_layout(height=300, margin=dict(t=90))
            show_figure(share_figure, f"toy-{name}-block-share", key=f"toy_share_{kind}")
            kernels = learned_kernels(model)
            if kernels:
                st.markdown("**Learned kernels** — each started as the identity (1 at q−0, k+0); "
                            "taps over the neighbouring keys are what lets a weight see a whole block.")
                for layer, kernel in enumerate(kernels):
                    show_figure(_kernel_figure(kernel.numpy(), layer), f"toy-{name}-kernel-L{layer}",
                                key=f"toy_kernel_{layer}")
    config = runs[models[0]][0].config
    st.caption(f"Both models: {config.layers} layers, {config.heads} heads, width {config.dim}, rotary positions "
               f"(θ = {config.rope_theta:,.0f}), attention dropout {config.dropout} while training, "
               f"{task.sequence_length} tokens (^ begins, $ ends). Each run's log: assets/toy_task/<run>/log.jsonl.")
