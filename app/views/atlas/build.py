"""Build an atlas from the page: the bundled corpus (or a file), a model, an engine; live progress."""

from __future__ import annotations

import re

import streamlit as st
from state.atlas import current_job, forget_job, start_job

from models.atlas.corpus import BUNDLED
from models.engine.access import read_policy

WIDGETS = ("atlas_texts", "atlas_engine")


def _safe_name(model: str, texts: int) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model.removeprefix('pack:')}-wordnet-{texts}").strip("-")


@st.fragment(run_every=1.0)
def _progress() -> None:
    """The running job's progress, redrawn every second without rerunning the page."""
    job = current_job()
    if job is None:
        return
    status = job.status()
    if status.error:
        st.error(f"The atlas was not finished: {status.error}")
        if st.button("Dismiss", key="atlas_dismiss"):
            forget_job()
            st.rerun()
    elif status.finished:  # said once on the page, and the new atlas chosen
        st.session_state["atlas_built"] = (f"{job.out.name} is ready: {status.done:,} texts, {status.tokens:,} "
                                           f"tokens in {status.seconds:.0f} s.")
        st.session_state["atlas_file"] = job.out.name
        forget_job()
        st.rerun()
    else:
        rate = status.tokens / status.seconds if status.seconds else 0
        fraction = status.done / status.total if status.total else 0.0
        label = (f"Building {job.out.name}: loading the model…" if not status.total else
                 f"Building {job.out.name}: {status.done:,} of {status.total:,} texts · {rate:,.0f} tokens/s")
        st.progress(fraction, text=label)
        if st.button("Stop (the finished shards are kept; building again resumes)", key="atlas_stop"):
            job.stop()
            forget_job()
            st.rerun(scope="app")


def render(model: str | None) -> None:
    built = st.session_state.pop("atlas_built", None)
    if built:
        st.success(built, icon=":material/check_circle:")
    with st.expander("Build an atlas", icon=":material/construction:", expanded=False):
        if read_policy().is_server:
            st.caption("This server shows the atlases it holds; building one is done where it runs: "
                       "`python -m models.atlas --model … --out ATLAS_FOLDER/NAME.duckdb`.")
            return
        if model is None:
            st.info("Choose a text model in the sidebar first.")
            return
        left, right = st.columns([2, 1])
        texts = left.slider("Texts from the bundled corpus (WordNet 3.0 example sentences)", 100, 4000, 1000, 100,
                            key="atlas_texts")
        engine = right.segmented_control("Engine", ["ray", "plain"], default="ray", required=True, key="atlas_engine",
                                         help="ray: model replicas on a local Ray, one per core; plain: one process")
        job = current_job()
        busy = job is not None and job.status().running
        if st.button(f"Build the atlas of {model} over {texts:,} texts", disabled=busy, icon=":material/play_arrow:"):
            start_job(model, BUNDLED, _safe_name(model, texts), texts, engine)
        _progress()
