"""The Text page through Streamlit's AppTest: real app script, real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _map_spec(at: AppTest) -> str:
    """The selected map's plotly JSON, decoded (titles and token labels as text)."""
    return json.dumps(json.loads(at.get("plotly_chart")[1].proto.spec), ensure_ascii=False)


def _submit(at: AppTest, text: str) -> AppTest:
    at.text_area(key="text").set_value(text)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_default_sentence_shows_overview_and_selected_map(app):
    assert app.title[0].value == "Text attention"
    assert any("6 layers × 12 heads" in m.value for m in app.markdown)
    charts = app.get("plotly_chart")
    assert len(charts) == 2
    assert "pack:minilm" in _map_spec(app) and "animal" in _map_spec(app)


def test_choosing_a_head_redraws_only_that_map(app):
    app.selectbox(key="layer").set_value(3)
    app.selectbox(key="head").set_value(7)
    app.run()
    assert not app.exception
    assert "layer 3 · head 7" in _map_spec(app)


def test_empty_text_gives_a_message_not_a_traceback(app):
    _submit(app, "   ")
    assert any("empty" in w.value for w in app.warning)
    assert not app.get("plotly_chart")


def test_long_text_is_cut_with_a_notice(app):
    _submit(app, "word " * 600)
    assert any("were dropped" in w.value and "512" in w.value for w in app.warning)
    assert any("512 tokens" in m.value for m in app.markdown)


def test_a_bad_model_id_is_explained_and_the_text_is_kept(app):
    _submit(app, "Keep this sentence, please.")
    app.sidebar.selectbox(key="model_choice_text").set_value("Other: a hub id or a folder…")
    app.run()
    app.sidebar.text_input(key="model_custom_text").set_value("./no/such/model")
    app.run()
    assert not app.exception
    assert any("neither a folder here" in e.value for e in app.sidebar.error)
    assert app.text_area(key="text").value == "Keep this sentence, please."
    # back to a pack: the kept text is shown again
    app.sidebar.selectbox(key="model_choice_text").set_value("all-MiniLM-L6-v2 (offline pack)")
    app.run()
    assert "please" in _map_spec(app)
