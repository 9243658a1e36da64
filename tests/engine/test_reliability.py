"""Hostile input on the capture and decoding paths: a result or a clear error, never a crash."""

from __future__ import annotations

import io

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.engine.capture import AttentionCapture, CaptureError, capture_image, capture_text
from models.vision.images import ImageInputError, open_photo
from tests.tolerance import assert_close32

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# anything Unicode can spell: controls, surrogate-free astral planes, RTL marks, joiners, combining marks
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=400)
SPECIAL = st.sampled_from(["", " ", "\n\t ", "\u200b\u200d\u2060", "\u202e\u0645\u0631\u062d\u0628\u0627\u202c",
                           "👨‍👩‍👧‍👦🏳️‍🌈", "\x00\x01\x7f", "e\u0301\u0301\u0301", "﷽" * 50])


def _check_text(loaded, text: str) -> None:
    try:
        capture = capture_text(loaded, text)
    except CaptureError as error:
        assert str(error)  # a sentence for the user
        return
    assert isinstance(capture, AttentionCapture) and 0 < capture.seq_len <= 512
    assert len(capture.tokens) == capture.seq_len
    for layer in capture.layers:
        rows = layer.weights.sum(-1)
        assert_close32(rows, torch.ones_like(rows), terms=rows.shape[-1])


@SETTINGS
@given(text=st.one_of(TEXT, SPECIAL))
def test_any_text_on_the_encoder(minilm, text):
    _check_text(minilm, text)


@SETTINGS
@given(text=st.one_of(TEXT, SPECIAL))
def test_any_text_on_the_decoder(smollm2, text):
    _check_text(smollm2, text)


def test_a_hundred_thousand_characters_are_cut_not_crashed(minilm, smollm2):
    text = ("Long input, with commas; and unicode ✓ — " * 3000)[:100_000]
    for loaded in (minilm, smollm2):
        capture = capture_text(loaded, text)
        assert capture.seq_len <= 512 and capture.dropped_tokens > 10_000


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_refused_politely(data):
    try:
        photo = open_photo(data)
    except ImageInputError as error:
        assert str(error)
    else:
        assert photo.image.mode == "RGB"


@st.composite
def _images(draw) -> bytes:
    mode = draw(st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"]))
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    fmt = draw(st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "JPEG", "WEBP"]))
    image = Image.effect_noise((width, height), draw(st.floats(1, 100))).convert("L")
    try:
        image = image.convert(mode) if mode not in ("I;16",) else Image.fromarray(
            np.asarray(image).astype(np.uint16) * 257)
        buffer = io.BytesIO()
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        return b""  # this format cannot store this mode: nothing to decode
    return buffer.getvalue()


@SETTINGS
@given(data=_images())
def test_any_size_and_mode_decodes_and_runs(dinov2, data):
    try:
        photo = open_photo(data)
    except ImageInputError as error:
        assert data == b"" or "16:1" in str(error), error
        return
    assert photo.image.mode == "RGB"
    capture = capture_image(dinov2, photo.image)
    assert capture.pixels.shape[:2] == (capture.grid.rows * 14, capture.grid.cols * 14)
