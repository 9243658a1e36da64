"""The server's shared caches through the real app: derived results kept pickled by their exact bytes, all
results within `cache_mb`, models within `model_cache_mb` (the one in use kept even when larger)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import streamlit as st

from tests.app.test_text import VIEWS
from tests.apptest import APP, open_view, start_app


@pytest.fixture
def fresh_stores():
    """Each test starts and ends with no stores (they live in st.cache_resource)."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _store(kind: str):
    return sys.modules["shared"].shared_store(kind)  # the module the app script imported


def _every_view(at):
    """Open every Text view in turn; each draws without an error."""
    for view in VIEWS:
        open_view(at, "text_view", view)
        # bertviz draws in iframes; Generation and Ablation draw once asked to run the model again
        assert not at.error and (at.get("plotly_chart") or view in ("bertviz", "Generation", "Ablation"))
    return at


def test_derived_results_share_the_capture_store_and_are_counted_by_their_pickled_bytes(fresh_stores, minilm):
    _every_view(start_app())
    entries = _store("results")._entries
    kept = {key[1] for key in entries if isinstance(key, tuple) and key[0] == "state.text"}
    assert {"cached_mosaic", "cached_comparison", "cached_walkthrough", "cached_bertviz"} <= kept
    for key, (value, size) in entries.items():
        if key[0] == "state.text":
            assert isinstance(value, bytes) and size == len(value)
            pickle.loads(value)  # a whole pickle (None for a lookup that found nothing)


def test_a_tiny_cache_bound_holds_and_every_view_still_draws(fresh_stores, minilm, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_CACHE_MB", "0.25")
    _every_view(start_app())
    store = _store("results")
    assert store.max_bytes == 0.25 * 2**20 and 0 < store.nbytes <= store.max_bytes


def test_models_are_bounded_by_their_weights_and_the_one_in_use_stays(fresh_stores, minilm, dinov2, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_MODEL_CACHE_MB", "1")  # smaller than either model
    at = start_app()
    models = _store("models")._entries
    [(_, (text_model, size))] = models.items()
    footprint = text_model.model.get_memory_footprint()  # transformers' own count of parameters and buffers
    assert 0 <= size - footprint < 1000  # plus the model's name and folder
    at.switch_page("app_pages/vision.py").run()
    assert not at.exception and at.get("plotly_chart")
    [(_, (vision_model, _))] = models.items()  # the text model went; the vision model stayed, alone
    assert vision_model.modality == "vision"


def _shared():
    """The app's `shared` module, imported as its pages import it (app/ on the path)."""
    sys.path.insert(0, str(Path(APP).parent))
    import shared

    return shared


def test_a_progress_bar_waits_then_redraws_at_a_pace_and_always_at_the_last_step():
    pacer = _shared().Pacer(delay=0.5, every=0.5, start=100.0)
    steps = [(1, 100.2), (2, 100.6), (3, 100.8), (4, 101.2), (5, 101.3), (30, 101.4)]  # (layer done, seconds)
    assert [done for done, now in steps if pacer.due(done, 30, now)] == [2, 4, 30]
    quick = _shared().Pacer(delay=0.5, every=0.5, start=0.0)
    assert not any(quick.due(done, 6, done * 0.05) for done in range(1, 7))  # 0.3 s in all: no bar at all


def test_the_libraries_objects_leave_the_collectors_sight_once_the_app_has_run(fresh_stores):
    """Streamlit collects garbage after every rerun; the app's first run freezes what the libraries made."""
    import gc

    start_app()
    assert gc.get_freeze_count() > 100_000  # torch, transformers, plotly, pandas
