"""The Vision page's caches and settings: image captures, rollout, saliency, the seed-000 head and its photo
search, and the overlay style chosen on the page."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
from shared import cached_model, captured, kept, stored_capture

from models.engine.access import read_policy
from models.engine.capture import AttentionCapture, capture_image
from models.head.features import backbone_tokens, input_size, load_photos
from models.head.focus import HeadReading, read_photo
from models.head.head import AttentionHead, HeadLoadError, HeadOutput, load_head
from models.head.search import PhotoIndex, build_index, head_output, index_entries
from models.vision.focus import rollout_focus
from models.vision.images import ImageInputError, open_photo
from models.vision.saliency import load_saliency_decoder, saliency_map

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HEAD_FOLDER = ASSETS / "attention_head"
PHOTOS = ASSETS / "photos"  # the example photos, and the folder the search view indexes first
MAX_INDEX = 400  # photos and crops the search view embeds (about 0.1 s each on a CPU)
PAGE_WIDTH = 1000  # px, roughly, of a figure across the whole page (wide layout)
SEARCH_ROOTS_ENV = "ATTENTION_LENS_SEARCH_ROOTS"


class ImageInput(NamedTuple):
    """What identifies one image capture: the model and the file's digest."""

    model: tuple[str, str, str]
    digest: str


def overlay_style(share: float = 1.0) -> dict:
    """focus_overlays keywords: the opacity and colormap chosen on the Vision page, and the figure's width
    for a figure in a column holding `share` of the page (so its height fits the panels)."""
    return dict(opacity=st.session_state.get("opacity", 0.6), colorscale=st.session_state.get("colormap", "Inferno"),
                width=int(PAGE_WIDTH * share))


def _image_capture(key: ImageInput, data: bytes, on_wait: Callable[[int], None] | None = None):
    """(capture, notes) per (model, file), kept with the text captures: the file is decoded and the model run once."""
    def compute(policy) -> tuple[AttentionCapture, tuple]:
        photo = open_photo(data)
        return capture_image(cached_model(*key.model), photo.image), photo.notes

    return stored_capture(key, compute, on_wait, size=lambda result: result[0].nbytes)


def image_capture(model: tuple[str, str, str], data: bytes) -> tuple[ImageInput, AttentionCapture, tuple] | None:
    """The capture for this photo, or a message in the page (never a traceback)."""
    key = ImageInput(model, hashlib.sha256(data).hexdigest())
    result = captured(lambda on_wait: _image_capture(key, data, on_wait),
                      "Out of memory for this image: try a smaller model.", input_errors=(ImageInputError,))
    return None if result is None else (key, *result)


# The derived results below are keyed by `key`; the capture itself is passed unhashed (`_capture`).


@kept()
def cached_rollout(key: ImageInput, head_fusion: str, discard_ratio: float, _capture: AttentionCapture) -> np.ndarray:
    """Rollout focus on the patch grid for one capture and one setting."""
    return rollout_focus(_capture, head_fusion, discard_ratio).numpy()


@kept("models")
def cached_saliency_decoder(folder: str):
    """The saliency decoder saved beside a model, or None."""
    return load_saliency_decoder(folder)


@kept()
def cached_saliency(key: ImageInput, _capture: AttentionCapture) -> np.ndarray | None:
    """Per-pixel saliency of the photo the model saw, when the model has a decoder (the DINOv2 pack)."""
    decoder = cached_saliency_decoder(cached_model(*key.model).source)
    return None if decoder is None else saliency_map(decoder, _capture).numpy()


# --- the Attention Head of seed 000 ---------------------------------------------------------------


@kept("models", spinner="Loading the attention head…")
def _cached_head(folder: str) -> AttentionHead:
    return load_head(Path(folder))[0]


def cached_head(folder: str) -> AttentionHead | None:
    """The trained head in `folder`, or None with the reason shown in the page."""
    if not (Path(folder) / "config.json").exists():
        st.error(f"No trained head in {folder}: run `python -m models.head.train` (see the README).")
        return None
    try:
        return _cached_head(folder)
    except HeadLoadError as error:
        st.error(str(error))
        return None


def head_backbone(head: AttentionHead, model: tuple[str, str, str]) -> tuple[str, str, str]:
    """The model key of the backbone the head reads (same device and dtype), saying so when the sidebar differs."""
    if head.config.backbone != model[0]:
        st.info(f"The head was trained on **{head.config.backbone}** tokens, so this tab runs that backbone on the "
                "photo, whatever model the sidebar shows.")
    return (head.config.backbone, *model[1:])


@kept()
def cached_head_reading(key: ImageInput, folder: str, _capture: AttentionCapture) -> HeadReading:
    """The head's focus, anchor share and kept patches on one captured photo."""
    return read_photo(_cached_head(folder), _capture)


def search_roots() -> dict[str, Path]:
    """Folders the search view may index, by the name it shows: the example photos, plus the policy's photo
    roots on a server, or the app's assets and $ATTENTION_LENS_SEARCH_ROOTS locally.

    A shared server must not let a visitor list and show arbitrary server folders, nor learn their paths.
    """
    policy = read_policy()
    if policy.is_server:
        return {"Example photos": PHOTOS, **{name: Path(folder) for name, folder in policy.photo_roots}}
    extra = [Path(p).resolve() for p in os.environ.get(SEARCH_ROOTS_ENV, "").split(os.pathsep) if p]
    return {str(root): root for root in [ASSETS.resolve(), *extra]}


@kept()
def cached_photo_index(model: tuple[str, str, str], head_folder: str, photo_folder: str,
                       crops: int) -> tuple[PhotoIndex, list[np.ndarray]]:
    """The photos of a folder and their crops, embedded by the head: (index, square pixels per entry)."""
    loaded = cached_model(*model)
    names, photos = load_photos(Path(photo_folder), limit=MAX_INDEX // (crops + 1))
    labels, images = index_entries(names, photos, crops, input_size(loaded))
    with st.spinner(f"Indexing {len(images)} photos and crops with {loaded.name} and the head…"):
        index = build_index(loaded, _cached_head(head_folder), labels, images)
    return index, [np.asarray(image) for image in images]


@kept()
def cached_query(model: tuple[str, str, str], head_folder: str, digest: str, _data: bytes) -> HeadOutput:
    """The head's output for a query photo, squashed to the backbone's square input like the index."""
    loaded = cached_model(*model)
    photo = open_photo(_data).image
    size = input_size(loaded)
    return head_output(_cached_head(head_folder), backbone_tokens(loaded, [photo.resize((size, size))]))
