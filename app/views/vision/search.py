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
from models.engine.access import read_policy

# input widgets whose values survive a tab switch (shared.keep_widget_state)
WIDGETS = ("search_folder", "search_root", "search_crops", "search_size", "search_k")


def render(model_key: tuple[str, str, str], data: bytes) -> None:
    head = cached_head(str(HEAD_FOLDER))
    if head is None:  # the reason is already on the page
        return
    backbone = head_backbone(head, model_key)
    folder_col, crops_col, size_col, k_col = st.columns([2.2, 1, 1.4, 0.8], vertical_alignment="bottom")
    roots = search_roots()
    if read_policy().is_server:  # folders by name only: a visitor never sees or types a server path
        shown = folder_col.selectbox("Index folder", list(roots), key="search_root")
        path = roots[shown].resolve()
    else:
        folder = folder_col.text_input("Index folder (on this machine)", str(PHOTOS), key="search_folder")
        path, shown = Path(folder).expanduser().resolve(), Path(folder).name
    crops = crops_col.number_input("Crops per photo", 0, 20, 8, key="search_crops")
    size = size_col.select_slider("Embedding size (Matryoshka)", head.config.sizes, head.config.sizes[-1],
                                  key="search_size")
    k = k_col.number_input("Results", 1, 12, 6, key="search_k")
    if not any(path.is_relative_to(root.resolve()) for root in roots.values()):  # before looking at the path
        st.error(f"Only folders inside {', '.join(roots)} can be indexed. Whoever runs the app can allow more "
                 f"with {SEARCH_ROOTS_ENV} (folders separated by '{os.pathsep}').")
        return
    if not path.is_dir():
        st.error(f"Cannot index {shown}: that folder does not exist.")
        return
    try:
        index, pixels = cached_photo_index(backbone, str(HEAD_FOLDER), str(path), int(crops))
    except (ValueError, OSError) as error:
        st.error(f"Cannot index {shown}: {error}" if isinstance(error, ValueError) else f"Cannot index {shown}.")
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
