"""The app's boundary to the library: cached models and captures, and the sidebar model picker."""

from __future__ import annotations

from typing import Literal

import streamlit as st
import torch

from components.heatmaps import attention_mosaic
from models.capture import AttentionCapture, CaptureError, capture_text
from models.loading import LoadedModel, ModelLoadError, load_model, pack_ready, prepare_pack
from models.registry import PACK_PREFIX, choices

OTHER = "Other: a hub id or a folder…"


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


def text_capture(key: tuple[str, str, str], text: str, pair: str | None, max_tokens: int) -> AttentionCapture | None:
    """The capture for this input, or a message in the page (never a traceback)."""
    try:
        with st.spinner("Running the model and capturing every attention map…"):
            return cached_text_capture(*key, text, pair, max_tokens)
    except CaptureError as error:
        st.warning(str(error))
    except (torch.OutOfMemoryError, MemoryError):
        st.error("Out of memory for this input: try a shorter text or a smaller model.")
    return None


@st.cache_data(show_spinner=False, max_entries=12, ttl=3600)
def cached_mosaic(key: tuple[str, str, str], text: str, pair: str | None, max_tokens: int, thumb: int):
    """The layers x heads overview figure for one capture (small: thumbnails only)."""
    capture = cached_text_capture(*key, text, pair, max_tokens)
    return attention_mosaic(
        [layer.weights.numpy() for layer in capture.layers],
        [None if layer.mask is None else layer.mask.numpy() for layer in capture.layers],
        capture.num_heads,
        thumb,
    )
