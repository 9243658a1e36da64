"""The Text page's caches for an encoder–decoder: one translation with its three kinds of maps, and the figures and
bertviz pages drawn from it."""

from __future__ import annotations

from typing import NamedTuple

import plotly.graph_objects as go
from shared import cached_model, captured, kept, stored_capture

from components.bertviz_embed import bertviz_html
from components.heatmaps import attention_mosaic
from models.text.seq2seq import Seq2SeqCapture, translate_with_attention


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
def cached_mosaic(key: TranslationInput, kind: str, thumb: int) -> go.Figure:
    """Every layer × head of one kind of attention as thumbnails."""
    layers = translation_of(key).layers(kind)
    return attention_mosaic([layer.weights.numpy() for layer in layers],
                            [None if layer.mask is None else layer.mask.numpy() for layer in layers],
                            layers[0].num_heads, thumb)


@kept(spinner="Preparing the bertviz view…")
def cached_bertviz(key: TranslationInput, view: str, layers: tuple[int, ...]) -> str:
    """bertviz's `view` with its Encoder / Decoder / Cross choice, for `layers`, as a self-contained page."""
    capture = translation_of(key)

    def maps(kind: str) -> dict:
        return {i: capture.layers(kind)[i].weights.numpy() for i in layers}

    return bertviz_html(view, maps("encoder"), capture.source_tokens, decoder=maps("decoder"),
                        cross=maps("cross"), decoder_tokens=capture.decoder_tokens)
