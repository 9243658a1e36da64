"""Fault cases through the real app script: the page says what went wrong and keeps serving."""

from __future__ import annotations

import dataclasses
import shutil
import sys

import pytest
import streamlit as st
import torch

from models.engine.packs import CACHE_ENV, PACKS, cache_root
from tests.apptest import start_app


@pytest.fixture
def fresh_caches():
    """Every test here starts (and leaves) with Streamlit's model and result caches empty."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def private_pack_cache(monkeypatch, tmp_path):
    """A copy of the converted DINOv2 pack in a cache folder of its own."""
    source = cache_root() / "dinov2-small"
    assert source.is_dir(), "the DINOv2 pack is converted by the session fixtures first"
    shutil.copytree(source, tmp_path / "dinov2-small")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    return tmp_path / "dinov2-small"


def test_a_deleted_pack_cache_is_rebuilt_and_the_page_works(dinov2, fresh_caches, private_pack_cache):
    shutil.rmtree(private_pack_cache)
    at = start_app("app_pages/vision.py", timeout=180)
    assert not at.sidebar.error and at.get("plotly_chart")
    assert (private_pack_cache / "model.safetensors").is_file()


def test_a_corrupted_pack_cache_is_rebuilt_and_the_page_works(dinov2, fresh_caches, private_pack_cache):
    weights = private_pack_cache / "model.safetensors"
    weights.write_bytes(b"\xff" * weights.stat().st_size)  # same size: only loading can tell
    at = start_app("app_pages/vision.py", timeout=180)
    assert not at.sidebar.error and at.get("plotly_chart")


def test_disk_full_during_conversion_is_a_message_and_other_pages_keep_working(
    dinov2, fresh_caches, private_pack_cache, monkeypatch
):
    shutil.rmtree(private_pack_cache)

    def disk_full(out, progress):
        progress(0.3, "writing")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(PACKS, "dinov2-small", dataclasses.replace(PACKS["dinov2-small"], build=disk_full))
    at = start_app("app_pages/vision.py", timeout=180)
    assert any("No space left on device" in e.value for e in at.sidebar.error)
    assert not at.get("plotly_chart") and not private_pack_cache.exists()
    at.switch_page("app_pages/text.py")
    at.run()
    assert not at.exception and at.get("plotly_chart")  # the Text page still serves maps


def test_out_of_memory_is_a_message_and_the_next_input_works(minilm, fresh_caches, monkeypatch):
    at = start_app()
    shared = sys.modules["shared"]  # the app's own module, as the script imported it
    real = shared.capture_text

    def out_of_memory(loaded, text, *args, **kwargs):
        if "huge" in text:
            raise torch.OutOfMemoryError("simulated: CPU allocator could not allocate 40 GiB")
        return real(loaded, text, *args, **kwargs)

    monkeypatch.setattr(shared, "capture_text", out_of_memory)
    at.text_area(key="text").set_value("a huge input " * 50)
    at.button[0].click()
    at.run()
    assert not at.exception and any("Out of memory" in e.value for e in at.error)
    assert at.text_area(key="text").value.startswith("a huge input")  # the user's text is kept
    at.text_area(key="text").set_value("A normal sentence again.")
    at.button[0].click()
    at.run()
    assert not at.exception and not at.error and at.get("plotly_chart")
