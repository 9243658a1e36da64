"""Photo search: the head's embeddings at a chosen Matryoshka size, nearest photos with their focus."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import streamlit as st
from shared import show_figure
from state.vision import (
    HEAD_FOLDER,
    PHOTOS,
    SEARCH_ROOTS_ENV,
    cached_head,
    cached_photo_index,
    cached_query,
    head_backbone,
    overlay_style,
    search_roots,
)

from components.overlays import focus_overlays

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("search_folder", "search_crops", "search_size", "search_k")


def render(model_key: tuple[str, str, str], data: bytes) -> None:
    head = cached_head(str(HEAD_FOLDER))
    if head is None:  # the reason is already on the page
        return
    backbone = head_backbone(head, model_key)
    folder_col, crops_col, size_col, k_col = st.columns([2.2, 1, 1.4, 0.8], vertical_alignment="bottom")
    folder = folder_col.text_input("Index folder (on the server)", str(PHOTOS), key="search_folder")
    crops = crops_col.number_input("Crops per photo", 0, 20, 8, key="search_crops")
    size = size_col.select_slider("Embedding size (Matryoshka)", head.config.sizes, head.config.sizes[-1],
                                  key="search_size")
    k = k_col.number_input("Results", 1, 12, 6, key="search_k")
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        st.error("That folder does not exist on the server.")
        return
    if not any(path.is_relative_to(root) for root in search_roots()):
        st.error(f"Only folders inside {', '.join(str(r) for r in search_roots())} can be indexed. "
                 f"Whoever runs the app can allow more with {SEARCH_ROOTS_ENV} (folders separated by '{os.pathsep}').")
        return
    try:
        index, pixels = cached_photo_index(backbone, str(HEAD_FOLDER), str(path), int(crops))
    except (ValueError, OSError) as error:
        st.error(f"Cannot index {path.name}: {error}")
        return
    query = cached_query(backbone, str(HEAD_FOLDER), hashlib.sha256(data).hexdigest(), data)
    scores, found = index.search(query, size, int(k))
    st.markdown(f"The **{len(index.names)}** entries (each photo whole and {crops} crops) ranked by cosine "
                f"similarity of the first **{size}** of {head.config.sizes[-1]} dimensions. Each result shows where "
                "the head's pooling heads look in it (mean of heads).")
    maps = np.stack([index.focus(int(i)).numpy() for i in found])
    titles = [f"{index.names[int(i)]} · {float(s):.3f}" for s, i in zip(scores, found, strict=True)]
    show_figure(focus_overlays([pixels[int(i)] for i in found], maps, titles, columns=min(int(k), 3),
                               value_name="attention", **overlay_style()), f"search-{size}", key="search_results")
