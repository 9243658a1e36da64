"""The Atlas page's state: where atlases live, each finished atlas read once, and the one job building an atlas
in the background (its own process, so no visitor waits on it)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from shared import atlas_folder, kept

from models.atlas.atlas import Atlas, open_atlas
from models.atlas.process import AtlasProcess


def atlas_files() -> dict[str, Path]:
    """The atlas files of the folder, by file name (the page never shows their path)."""
    return {path.name: path for path in sorted(atlas_folder().glob("*.duckdb"))}


@kept()
def cached_atlas(path: str, modified: float) -> Atlas:
    """A finished atlas's table, read again only when its file changes (`modified`)."""
    return open_atlas(path)


@st.cache_resource
def _jobs() -> dict[str, AtlasProcess]:
    return {}


def current_job() -> AtlasProcess | None:
    """The atlas job this server started last, while it runs or until its end was seen."""
    jobs = _jobs()
    return jobs.get("current")


def start_job(model: str, corpus: Path, name: str, limit: int | None, engine: str) -> AtlasProcess:
    """Start building `name`.duckdb in the atlas folder (one job at a time on this server)."""
    job = AtlasProcess(model, corpus, atlas_folder() / f"{name}.duckdb", limit, engine)
    _jobs()["current"] = job
    return job


def forget_job() -> None:
    _jobs().pop("current", None)
