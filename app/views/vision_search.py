"""Photo search: the head's embeddings at a chosen Matryoshka size, nearest photos with their focus."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import streamlit as st
from session import HEAD_FOLDER, cached_head, cached_photo_index, cached_query, overlay_style, show_figure

from components.overlays import focus_overlays

PHOTOS = Path(__file__).resolve().parents[2] / "assets" / "photos"


def render(model_key: tuple[str, str, str], data: bytes) -> None:
    head = cached_head(str(HEAD_FOLDER))
    if head is None:  # the reason is already on the page
        return
    backbone = (head.config.backbone, *model_key[1:])
    folder_col, crops_col, size_col, k_col = st.columns([2.2, 1, 1.4, 0.8], vertical_alignment="bottom")
    folder = folder_col.text_input("Index folder (on the server)", str(PHOTOS), key="search_folder")
    crops = crops_col.number_input("Crops per photo", 0, 20, 8, key="search_crops")
    size = size_col.select_slider("Embedding size (Matryoshka)", head.config.sizes, head.config.sizes[-1],
                                  key="search_size")
    k = k_col.number_input("Results", 1, 12, 6, key="search_k")
    if not Path(folder).is_dir():
        st.error("That folder does not exist on the server.")
        return
    try:
        index, pixels = cached_photo_index(backbone, str(HEAD_FOLDER), str(Path(folder).resolve()), int(crops))
    except ValueError as error:
        st.error(str(error))
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
