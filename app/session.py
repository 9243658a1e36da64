"""The app's boundary to the library: cached models and captures, and the sidebar model picker."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from components.bertviz_embed import bertviz_html
from components.export import figure_config
from components.heatmaps import attention_mosaic
from models.capture import AttentionCapture, CaptureError, capture_image, capture_text
from models.focus import rollout_focus
from models.head.features import backbone_tokens, input_size, load_photos
from models.head.focus import HeadReading, read_photo
from models.head.head import AttentionHead, HeadLoadError, HeadOutput, load_head
from models.head.search import PhotoIndex, build_index, head_output, index_entries
from models.head_stats import head_statistics, sink_groups
from models.images import ImageInputError, open_photo
from models.loading import LoadedModel, ModelLoadError, load_model, pack_ready, prepare_pack
from models.mta import convolve_layer
from models.multihead import HeadComparison, compare_heads
from models.notes import lacks_scores, model_notes
from models.registry import PACK_PREFIX, choices
from models.saliency import load_saliency_decoder, saliency_map
from models.toy_experiment import shipped_runs
from models.toy_model import ToyReading, ToyTransformer, load_toy_model, read_prompt
from models.toy_task import ToyTask
from models.walkthrough import Walkthrough, attention_walkthrough

OTHER = "Other: a hub id or a folder…"
MAX_INDEX = 400  # photos and crops the search view embeds (about 0.1 s each on a CPU)
T = TypeVar("T")


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_model(name: str, device: str, dtype: str) -> LoadedModel:
    """One instance per (model, device, dtype), shared by all sessions; it holds no per-user state."""
    return load_model(name, device, dtype)


@st.cache_resource(show_spinner=False, max_entries=6, ttl=3600)
def cached_text_capture(
    name: str, device: str, dtype: str, text: str, pair: str | None, max_tokens: int
) -> AttentionCapture:
    """A capture per (model, text): switching views or heads never reruns the model."""
    return capture_text(cached_model(name, device, dtype), text, pair, max_tokens)


def model_picker(modality: Literal["text", "vision"]) -> tuple[LoadedModel, tuple[str, str, str]] | None:
    """Sidebar: choose a model (packs, hub presets, any id/folder), device and dtype; load with progress."""
    bar = st.sidebar
    bar.header("Model")
    options = {c.label: c.name for c in choices(modality)}
    label = bar.selectbox("Model", [*options, OTHER], key=f"model_choice_{modality}")
    if label == OTHER:
        name = bar.text_input("Hub id or local folder", key=f"model_custom_{modality}",
                              placeholder="e.g. bert-base-uncased or /path/to/model").strip()
        if not name:
            bar.info("Type a Hugging Face model id or the path of a folder saved with save_pretrained.")
            return None
    else:
        name = options[label]
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    device = bar.selectbox("Device", devices, key="device", help="auto: CUDA when a GPU is present, else CPU")
    dtype = "float32"
    if torch.cuda.is_available() and device != "cpu":
        dtype = bar.selectbox("Precision", ["float32", "float16", "bfloat16"], key="dtype")
    try:
        if name.startswith(PACK_PREFIX) and not pack_ready(name):
            holder = bar.empty()
            progress = holder.progress(0.0, text=f"Converting the {name} pack (once)…")
            prepare_pack(name, lambda f, m: progress.progress(min(max(f, 0.0), 1.0), text=m))
            holder.empty()
        with bar, st.spinner(f"Loading {name}…"):
            loaded = cached_model(name, device, dtype)
    except ModelLoadError as error:
        bar.error(str(error))
        return None
    config = loaded.model.config
    bar.caption(
        f"**{loaded.family}** · {getattr(config, 'num_hidden_layers', '?')} layers · "
        f"{getattr(config, 'num_attention_heads', '?')} heads · on {loaded.device.type}"
    )
    return loaded, (name, device, dtype)


class TextInput(NamedTuple):
    """What identifies one text capture: the model (name, device, dtype) and the input."""

    model: tuple[str, str, str]
    text: str
    pair: str | None
    max_tokens: int


def capture_of(key: TextInput) -> AttentionCapture:
    """The cached capture for `key` (computed on first use)."""
    return cached_text_capture(*key.model, key.text, key.pair, key.max_tokens)


def _captured(compute: Callable[[], T], out_of_memory: str) -> T | None:
    """Run a capture with a spinner; any failure the user can act on becomes a message, not a traceback."""
    try:
        with st.spinner("Running the model and capturing every attention map…"):
            return compute()
    except ImageInputError as error:
        st.error(str(error))
    except CaptureError as error:
        st.warning(str(error))
    except (torch.OutOfMemoryError, MemoryError):
        st.error(out_of_memory)
    return None


def show_model_notes(loaded: LoadedModel, capture: AttentionCapture) -> None:
    """What holds for every view of this model's maps (a quantised pack, weights only, sinks...)."""
    for note in model_notes(loaded, capture):
        st.info(note, icon=":material/info:")


def lacks_scores_notice(capture: AttentionCapture, view: str) -> bool:
    """Say so in the page and return True when `view` cannot be drawn: the model exposes weights only."""
    reason = lacks_scores(capture, view)
    if reason is not None:
        st.info(reason, icon=":material/block:")
    return reason is not None


def text_capture(key: TextInput) -> AttentionCapture | None:
    """The capture for this input, or a message in the page (never a traceback)."""
    return _captured(lambda: capture_of(key), "Out of memory for this input: try a shorter text or a smaller model.")


# Derived results: pure functions of one capture, cached per (input, layer, ...) so reruns are instant.


@st.cache_data(show_spinner=False, max_entries=12, ttl=3600)
def cached_mosaic(key: TextInput, thumb: int) -> go.Figure:
    """The layers x heads overview figure for one capture (small: thumbnails only)."""
    capture = capture_of(key)
    return attention_mosaic(
        [layer.weights.numpy() for layer in capture.layers],
        [None if layer.mask is None else layer.mask.numpy() for layer in capture.layers],
        capture.num_heads,
        thumb,
    )


@st.cache_data(show_spinner=False, max_entries=12, ttl=3600)
def cached_statistics(key: TextInput) -> list[dict[str, np.ndarray]]:
    """Per-head summary numbers for every layer."""
    capture = capture_of(key)
    groups = sink_groups(capture.tokens, capture.special)
    return [{k: v.numpy() for k, v in head_statistics(layer, groups).items()} for layer in capture.layers]


@st.cache_data(show_spinner=False, max_entries=24, ttl=3600)
def cached_comparison(key: TextInput, layer: int) -> HeadComparison:
    """Heads vs average vs one full-width head, for one layer."""
    return compare_heads(capture_of(key).layers[layer])


@st.cache_data(show_spinner=False, max_entries=48, ttl=3600)
def cached_walkthrough(key: TextInput, layer: int, head: int, token: int) -> Walkthrough:
    """The hand computation for one (layer, head, token)."""
    loaded = cached_model(*key.model)
    return attention_walkthrough(loaded.model, capture_of(key).layers[layer], head, token)


def clip_percentile() -> float | None:
    """The colour range chosen on the page: saturate at the 99th percentile, or use the full range."""
    return 99.0 if st.session_state.get("colour_range", "0 – 99th pct") == "0 – 99th pct" else None


def figure_format_control(container) -> None:
    """The PNG / SVG switch that sets what every figure's camera button downloads (see show_figure)."""
    container.segmented_control("Figure downloads", ["PNG", "SVG"], key="figure_format", default="PNG", required=True,
                                help="The camera button on every figure downloads it in this format.")


def show_figure(figure: go.Figure, file_stem: str, key: str) -> None:
    """A plotly figure whose camera button downloads PNG or SVG, as chosen on the page."""
    image_format = st.session_state.get("figure_format", "PNG").lower()
    st.plotly_chart(figure, key=key, width="stretch", config=figure_config(file_stem, image_format))


@st.cache_data(show_spinner="Preparing the bertviz view…", max_entries=16, ttl=3600)
def cached_bertviz(key: TextInput, view: str, layers: tuple[int, ...], start: int, end: int) -> str:
    """bertviz's `view` for `layers` on tokens start..end-1, as a self-contained page."""
    capture = capture_of(key)
    b_start = None
    if capture.segments and 1 in capture.segments[start:end] and capture.segments[start] == 0:
        b_start = capture.segments[start:end].index(1)
    weights = {i: capture.layers[i].weights[:, start:end, start:end].numpy() for i in layers}
    return bertviz_html(view, weights, capture.tokens[start:end], b_start)


# --- vision -------------------------------------------------------------------------------------


class ImageInput(NamedTuple):
    """What identifies one image capture: the model and the file's digest."""

    model: tuple[str, str, str]
    digest: str


@st.cache_resource(show_spinner=False, max_entries=6, ttl=3600)
def _cached_image_capture(name: str, device: str, dtype: str, digest: str, _data: bytes):
    """(capture, notes) per (model, file): the file is decoded and the model run once."""
    photo = open_photo(_data)
    return capture_image(cached_model(name, device, dtype), photo.image), photo.notes


def image_capture(model: tuple[str, str, str], data: bytes) -> tuple[ImageInput, AttentionCapture, tuple] | None:
    """The capture for this photo, or a message in the page (never a traceback)."""
    key = ImageInput(model, hashlib.sha256(data).hexdigest())
    result = _captured(lambda: _cached_image_capture(*model, key.digest, data),
                       "Out of memory for this image: try a smaller model.")
    return None if result is None else (key, *result)


# The derived results below are keyed by `key`; the capture itself is passed unhashed (`_capture`).


@st.cache_data(show_spinner=False, max_entries=24, ttl=3600)
def cached_rollout(key: ImageInput, head_fusion: str, discard_ratio: float, _capture: AttentionCapture) -> np.ndarray:
    """Rollout focus on the patch grid for one capture and one setting."""
    return rollout_focus(_capture, head_fusion, discard_ratio).numpy()


@st.cache_resource(show_spinner=False, max_entries=2)
def cached_saliency_decoder(folder: str):
    """The saliency decoder saved beside a model, or None."""
    return load_saliency_decoder(folder)


@st.cache_data(show_spinner=False, max_entries=12, ttl=3600)
def cached_saliency(key: ImageInput, _capture: AttentionCapture) -> np.ndarray | None:
    """Per-pixel saliency of the photo the model saw, when the model has a decoder (the DINOv2 pack)."""
    decoder = cached_saliency_decoder(cached_model(*key.model).source)
    return None if decoder is None else saliency_map(decoder, _capture).numpy()


PAGE_WIDTH = 1000  # px, roughly, of a figure across the whole page (wide layout)


def overlay_style(share: float = 1.0) -> dict:
    """focus_overlays keywords: the opacity and colormap chosen on the Vision page, and the figure's width
    for a figure in a column holding `share` of the page (so its height fits the panels)."""
    return dict(opacity=st.session_state.get("opacity", 0.6), colorscale=st.session_state.get("colormap", "Inferno"),
                width=int(PAGE_WIDTH * share))


@st.cache_data(show_spinner=False, max_entries=24, ttl=3600)
def cached_convolved(key: TextInput, layer: int, kernel: np.ndarray, pre_softmax: bool,
                     mixing: np.ndarray | None) -> np.ndarray:
    """One layer's maps as MTA would make them with this kernel (and head mixing), (H, T, T)."""
    weights = capture_of(key).layers[layer]
    return convolve_layer(weights.scores, weights.allowed, torch.tensor(kernel),
                          pre_softmax, None if mixing is None else torch.tensor(mixing)).numpy()


def keep_widget_state(*views: ModuleType) -> None:
    """Keep the values of these views' input widgets (each view's WIDGETS) while their tab is closed.

    Tabs are drawn lazily, and Streamlit drops the state of every widget not drawn in a run: without this,
    switching tabs would reset each closed tab's choices.
    """
    for view in views:
        for key in view.WIDGETS:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]


@st.cache_resource(show_spinner="Loading the toy-task checkpoints…")
def cached_toy_runs() -> dict[str, tuple[ToyTransformer, ToyTask]]:
    """The shipped baseline and MTA toy models, by run name ("mta-seed0", ...)."""
    return {name: load_toy_model(folder) for name, folder in shipped_runs().items()}


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def cached_toy_reading(run: str, prompt: str, block: int) -> ToyReading:
    """One trained toy model's answer, maps and block-finding layer for one prompt."""
    model, task = cached_toy_runs()[run]
    return read_prompt(model, task, prompt, block)


# --- the Attention Head of seed 000 ---------------------------------------------------------------

HEAD_FOLDER = Path(__file__).resolve().parents[1] / "assets" / "attention_head"


@st.cache_resource(show_spinner="Loading the attention head…")
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


@st.cache_data(show_spinner=False, max_entries=24, ttl=3600)
def cached_head_reading(key: ImageInput, folder: str, _capture: AttentionCapture) -> HeadReading:
    """The head's focus, anchor share and kept patches on one captured photo."""
    return read_photo(_cached_head(folder), _capture)


SEARCH_ROOTS_ENV = "ATTENTION_LENS_SEARCH_ROOTS"


def search_roots() -> list[Path]:
    """Folders the search view may index: the app's assets, plus any in $ATTENTION_LENS_SEARCH_ROOTS.

    A deployed app must not let a visitor list and show arbitrary server folders.
    """
    extra = [Path(p).resolve() for p in os.environ.get(SEARCH_ROOTS_ENV, "").split(os.pathsep) if p]
    return [HEAD_FOLDER.parent.resolve(), *extra]


@st.cache_resource(show_spinner=False, max_entries=4, ttl=3600)
def cached_photo_index(model: tuple[str, str, str], head_folder: str, photo_folder: str,
                       crops: int) -> tuple[PhotoIndex, list[np.ndarray]]:
    """The photos of a folder and their crops, embedded by the head: (index, square pixels per entry)."""
    loaded = cached_model(*model)
    names, photos = load_photos(Path(photo_folder))
    if len(photos) * (crops + 1) > MAX_INDEX:
        raise ValueError(f"{len(photos)} photos × {crops + 1} entries is over the {MAX_INDEX} this page indexes.")
    labels, images = index_entries(names, photos, crops, input_size(loaded))
    with st.spinner(f"Indexing {len(images)} photos and crops with {loaded.name} and the head…"):
        index = build_index(loaded, _cached_head(head_folder), labels, images)
    return index, [np.asarray(image) for image in images]


@st.cache_data(show_spinner=False, max_entries=12, ttl=3600)
def cached_query(model: tuple[str, str, str], head_folder: str, digest: str, _data: bytes) -> HeadOutput:
    """The head's output for a query photo, squashed to the backbone's square input like the index."""
    loaded = cached_model(*model)
    photo = open_photo(_data).image
    size = input_size(loaded)
    return head_output(_cached_head(head_folder), backbone_tokens(loaded, [photo.resize((size, size))]))
