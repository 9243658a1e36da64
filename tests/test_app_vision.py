"""The Vision page through Streamlit's AppTest: real app script, the DINOv2 pack, every tab, bad files."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_view, rerun, start_app
from tests.image_files import BAD, GOOD

VIEWS = ("Pooling focus", "Any patch", "Rollout", "Attention vs saliency")


@pytest.fixture
def app():
    return start_app("app_pages/vision.py")


def _open(at: AppTest, view: str) -> AppTest:
    return open_view(at, "vision_view", view)


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload").upload(name, data)
    return rerun(at)


def test_example_photo_shows_the_pooling_focus_of_every_head(app):
    assert app.title[0].value == "Vision attention"
    assert any("16 × 16 patches" in m.value and "1 CLS" in m.value for m in app.markdown)
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles == ["mean of heads (single map)"] + [f"head {h}" for h in range(6)]
    assert len([t for t in spec["data"] if t["type"] == "heatmap"]) == 7
    assert list(app.dataframe[0].value.index) == [f"head {h}" for h in range(6)]


@pytest.mark.parametrize("view", VIEWS)
def test_every_tab_draws(app, view):
    _open(app, view)
    assert app.get("plotly_chart") and not app.error


def test_any_patch_follows_the_row_and_column(app):
    _open(app, "Any patch")
    app.number_input(key="patch_row").set_value(2)
    app.number_input(key="patch_col").set_value(13)
    app.run()
    assert any("Patch (2, 13)" in m.value for m in app.markdown)


def test_rollout_settings_and_saliency_agreement(app):
    _open(app, "Rollout")
    app.slider(key="discard").set_value(0.9)
    app.run()
    assert not app.exception and any("Spearman" in m.value for m in app.markdown)
    _open(app, "Attention vs saliency")
    table = next(m.value for m in app.markdown if "Spearman ρ" in m.value)
    assert "pooling focus, last layer" in table and "rollout" in table


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_give_a_message_and_the_page_recovers(app, name):
    make, message = BAD[name]
    _upload(app, name, make())
    assert any(message in e.value for e in app.error)
    assert not app.get("plotly_chart")
    app.file_uploader(key="upload").clear()
    app.run()
    assert not app.error and app.get("plotly_chart")  # back to the example photo


@pytest.mark.parametrize(("name", "note"), [("animated.gif", "first of 3 frames"), ("cmyk.jpg", "CMYK"),
                                            ("rotated.jpg", "EXIF"), ("sixteen.png", "8 bits")])
def test_unusual_photos_work_and_say_what_was_done(app, name, note):
    _upload(app, name, GOOD[name]())
    assert any(note in i.value for i in app.info) and app.get("plotly_chart") and not app.error


@pytest.mark.parametrize(("family", "pooled_by"), [("vit", "CLS token"), ("siglip2", "attention-pooling head")])
def test_any_vision_family_from_a_folder_works_the_same_way(app, tmp_path, family, pooled_by):
    from tests.tiny_models import families

    folder = families()[family].save(tmp_path / family)
    app.sidebar.selectbox(key="model_choice_vision").set_value("Other: a hub id or a folder…")
    app.run()
    app.sidebar.text_input(key="model_custom_vision").set_value(str(folder))
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any(pooled_by in m.value for m in app.markdown)
    for view in VIEWS:
        _open(app, view)
        assert not app.error
    assert any("has no saliency decoder" in i.value for i in app.info)
