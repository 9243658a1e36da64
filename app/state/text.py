"""The Text page's caches: pure results of one capture (overview, statistics, comparison, walkthrough, bertviz),
keyed by the input so reruns are instant; and an encoder–decoder's translation with what is drawn from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from shared import TextInput, atlas_folder, cached_model, capture_of, captured, kept, stored_capture

from components.bertviz_embed import bertviz_html
from components.heatmaps import attention_mosaic
from models.atlas.atlas import atlas_for
from models.engine.capture import encode_text
from models.engine.pooling import block_counts, block_means, thumbnails
from models.text.ablation import Ablation, ablate_heads
from models.text.comparison import head_shifts, map_difference, token_alignment
from models.text.generation import Generation, generate_with_attention
from models.text.head_stats import MOSAIC_THUMB, HeadSummary, head_summary, sink_groups, summarise_heads
from models.text.multihead import HeadComparison, compare_heads
from models.text.seq2seq import Seq2SeqCapture, translate_with_attention
from models.text.walkthrough import Walkthrough, attention_walkthrough
from models.text.weighting import (
    MapStyle,
    WeightingUnavailable,
    head_output_weights,
    sink_positions,
    styled_maps,
    value_norms,
)


@kept()
def _atlas_for(model: str, folder: str, files: tuple[tuple[str, float], ...]) -> str | None:
    return atlas_for(folder, model)


def atlas_of(model: str) -> str | None:
    """The newest atlas file of `model`, looked up again only when the atlas folder's files change."""
    folder = atlas_folder()
    return _atlas_for(model, str(folder), tuple((p.name, p.stat().st_mtime) for p in sorted(folder.glob("*.duckdb"))))


def clip_percentile() -> float | None:
    """The colour range chosen on the page: saturate at the 99th percentile, or use the full range."""
    return 99.0 if st.session_state.get("colour_range", "0 – 99th pct") == "0 – 99th pct" else None


def map_style() -> MapStyle:
    """How the page draws its maps, as chosen above the tabs: weighting, and whether sinks are hidden."""
    return MapStyle(st.session_state.get("weighting", "attention"), st.session_state.get("hide_sinks", False))


@kept()
def cached_value_norms(key: TextInput, layer: int) -> torch.Tensor:
    """‖v_j W_O^h‖ (H, Tk) of one layer: what the value-norm weighting multiplies each head's rows by."""
    return value_norms(cached_model(*key.model).model, capture_of(key).layers[layer])


def layer_maps(key: TextInput, layer: int, style: MapStyle, head: int | slice = slice(None),
               rows: slice = slice(None)) -> np.ndarray:
    """The maps of `head` of one layer ((H, Tq, Tk) for every head, (Tq, Tk) for one; (…, r, Tk) for some rows) as
    `style` draws them; the capture's own weights when it changes nothing."""
    weights = capture_of(key).layers[layer]
    if style.plain:
        return weights.head_weights(head, rows).numpy()
    norms = cached_value_norms(key, layer) if style.weighting == "value-norm" else None
    return styled_maps(cached_model(*key.model).model, weights, style, sink_tokens(key), head, norms, rows).numpy()


def sink_tokens(key: TextInput) -> list[int]:
    """Positions the "hide sinks" switch hides: the first token and the special tokens."""
    capture = capture_of(key)
    return sink_positions(capture.tokens, capture.special)


@kept()
def cached_head_map(key: TextInput, layer: int, head: int, style: MapStyle) -> np.ndarray:
    """One head's map (Tq, Tk) as `style` draws it: that head alone is computed."""
    return layer_maps(key, layer, style, head)


@kept()
def cached_zoom(key: TextInput, layer: int, head: int, style: MapStyle, first_query: int, first_key: int,
                size: int) -> np.ndarray:
    """A size x size window of one head's map, exact."""
    return cached_head_map(key, layer, head, style)[first_query : first_query + size, first_key : first_key + size]


@kept()
def cached_weighting_problem(key: TextInput) -> str | None:
    """Why this capture cannot be weighted by value norms (None when it can)."""
    capture = capture_of(key)
    try:
        head_output_weights(cached_model(*key.model).model, capture.layers[0])  # what value_norms needs
    except WeightingUnavailable as error:
        return str(error)
    return None


@kept()
def cached_summary(key: TextInput, _progress: Callable[[int, int], None] | None = None) -> list[HeadSummary]:
    """Every layer's per-head numbers and thumbnails: from the capture's forward pass when it computed them, else
    each head's map computed once now (`_progress(done, layers)`)."""
    capture = capture_of(key)
    groups = sink_groups(capture.tokens, capture.special)
    if capture.overview is not None:
        return [head_summary(overview, groups) for overview in capture.overview]
    summaries = []
    for index, layer in enumerate(capture.layers):
        summaries.append(summarise_heads(layer, groups, MOSAIC_THUMB))
        if _progress:
            _progress(index + 1, capture.num_layers)
    return summaries


def cached_statistics(key: TextInput, _progress: Callable[[int, int], None] | None = None,
                      ) -> list[dict[str, np.ndarray]]:
    """Per-head summary numbers for every layer."""
    return [{k: v.numpy() for k, v in summary.statistics.items()} for summary in cached_summary(key, _progress)]


@kept()
def cached_mosaic(key: TextInput, style: MapStyle) -> go.Figure:
    """The layers x heads overview figure for one capture (small: thumbnails only); the model's own weights come
    from the summary's single pass, a styled mosaic computes its layers one at a time."""
    capture = capture_of(key)
    if style.plain:
        tiles = (summary.thumbnails.numpy() for summary in cached_summary(key))
    else:
        counts = [block_counts(layer.mask, layer.shape, MOSAIC_THUMB) for layer in capture.layers]
        tiles = (np.stack([block_means(torch.from_numpy(layer_maps(key, i, style, h)), counts[i]).numpy()
                           for h in range(capture.num_heads)]) for i in range(capture.num_layers))
    return attention_mosaic(tiles, capture.num_heads)


@kept()
def cached_thumbnails(key: TextInput, layer: int, size: int) -> np.ndarray:
    """One layer's (H, ≤size, ≤size) thumbnails of the model's own weights."""
    return thumbnails(capture_of(key).layers[layer], size).numpy()


@kept(spinner="Comparing the layer's heads with their average and with one full-width head…")
def cached_comparison(key: TextInput, layer: int) -> HeadComparison:
    """Heads vs average vs one full-width head, for one layer."""
    return compare_heads(capture_of(key).layers[layer])


@kept()
def cached_walkthrough(key: TextInput, layer: int, head: int, token: int) -> Walkthrough:
    """The hand computation for one (layer, head, token)."""
    loaded = cached_model(*key.model)
    return attention_walkthrough(loaded.model, capture_of(key).layers[layer], head, token)


@kept(spinner="Preparing the bertviz view…")
def cached_bertviz(key: TextInput, view: str, layers: tuple[int, ...], start: int, end: int,
                   style: MapStyle) -> str:
    """bertviz's `view` for `layers` on tokens start..end-1, as a self-contained page."""
    capture = capture_of(key)
    b_start = None
    if capture.segments and 1 in capture.segments[start:end] and capture.segments[start] == 0:
        b_start = capture.segments[start:end].index(1)
    weights = {}
    for i in layers:
        maps = layer_maps(key, i, style, rows=slice(start, end))  # (H, end - start, Tk): the rows bertviz draws
        if style.weighting == "value-norm":  # bertviz draws weights as line opacities: each row's share
            with np.errstate(invalid="ignore", divide="ignore"):
                maps = maps / maps.sum(-1, keepdims=True)
        weights[i] = np.nan_to_num(maps[:, :, start:end])  # rows with nothing left: no lines
    return bertviz_html(view, weights, capture.tokens[start:end], b_start)


class GenerationInput(NamedTuple):
    """What identifies one generation: the text capture's input and the decoding settings."""

    text: TextInput
    new_tokens: int
    sample: bool
    temperature: float
    seed: int


def generated(key: GenerationInput) -> Generation | None:
    """The continuation for these settings, run in one of the server's capture turns and kept; or a message."""
    def compute(policy):
        return generate_with_attention(cached_model(*key.text.model), key.text.text, key.new_tokens,
                                       sample=key.sample, temperature=key.temperature, seed=key.seed)

    return captured(lambda on_wait: stored_capture(key, compute, on_wait, size=lambda g: g.nbytes),
                    "Out of memory while generating: try fewer new tokens or a shorter text.")


class AblationInput(NamedTuple):
    """What identifies one ablation: the text capture's input, the heads removed and how."""

    text: TextInput
    heads: tuple[tuple[int, int], ...]
    mean: bool


def ablated(key: AblationInput, progress: Callable[[int, int], None] | None = None) -> Ablation | None:
    """The input run again without `key.heads`, compared with the original (`progress(layers compared, layers)`);
    or a message in the page."""
    original = capture_of(key.text)  # before taking a capture turn: it may need one of its own

    def compute(policy):
        loaded = cached_model(*key.text.model)
        encoded, _ = encode_text(loaded, key.text.text, key.text.pair, key.text.max_tokens)
        return ablate_heads(loaded, original, encoded, key.heads, key.mean, progress)

    return captured(lambda on_wait: stored_capture(key, compute, on_wait, size=lambda a: a.nbytes),
                    "Out of memory while running the input again: try a shorter text.")


@kept()
def cached_alignment(a: TextInput, b: TextInput) -> list[tuple[int, int]]:
    """Matched token positions of two captures, in order."""
    return token_alignment(capture_of(a).tokens, capture_of(b).tokens)


@kept()
def cached_shifts(a: TextInput, b: TextInput, _progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(L, H) how much each head's attention moves from input a to input b, on matched tokens
    (`_progress(layers done, layers)`)."""
    return head_shifts(capture_of(a), capture_of(b), cached_alignment(a, b), _progress).numpy()


@kept()
def cached_map_difference(a: TextInput, b: TextInput, layer: int, head: int) -> np.ndarray:
    """B − A for one head on A's tokens, NaN where unmatched."""
    return map_difference(capture_of(a).layers[layer].head_weights(head),
                          capture_of(b).layers[layer].head_weights(head), cached_alignment(a, b)).numpy()


class TranslationInput(NamedTuple):
    """What identifies one translation: the model (name, device, dtype), the source and the output's length cap."""

    model: tuple[str, str, str]
    source: str
    max_new_tokens: int


def translation_of(key: TranslationInput, on_wait=None) -> Seq2SeqCapture:
    """The translation for `key`, run in one of the server's capture turns and kept for every session."""
    return stored_capture(
        key, lambda policy: translate_with_attention(cached_model(*key.model), key.source, key.max_new_tokens),
        on_wait,
    )


def translated(key: TranslationInput) -> Seq2SeqCapture | None:
    """The translation for this source, or a message in the page (never a traceback)."""
    return captured(lambda on_wait: translation_of(key, on_wait),
                    "Out of memory while translating: try a shorter source or fewer output tokens.")


@kept()
def cached_translation_mosaic(key: TranslationInput, kind: str, thumb: int) -> go.Figure:
    """Every layer × head of one kind of attention as thumbnails."""
    layers = translation_of(key).layers(kind)
    return attention_mosaic((thumbnails(layer, thumb).numpy() for layer in layers), layers[0].num_heads)


@kept(spinner="Preparing the bertviz view…")
def cached_translation_bertviz(key: TranslationInput, view: str, layers: tuple[int, ...]) -> str:
    """bertviz's `view` with its Encoder / Decoder / Cross choice, for `layers`, as a self-contained page."""
    capture = translation_of(key)

    def maps(kind: str) -> dict:
        return {i: capture.layers(kind)[i].weights.numpy() for i in layers}

    return bertviz_html(view, maps("encoder"), capture.source_tokens, decoder=maps("decoder"),
                        cross=maps("cross"), decoder_tokens=capture.decoder_tokens)
