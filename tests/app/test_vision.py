"""The Vision page through Streamlit's AppTest: real app script, the DINOv2 pack, every tab, bad files."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_view, rerun, start_app
from tests.conftest import ROOT
from tests.image_files import BAD, GOOD

VIEWS = ("Pooling focus", "Any patch", "Rollout", "Attention vs saliency", "Attention head (seed 000)", "Photo search")


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


def test_each_tab_keeps_its_choices_across_tab_switches_and_a_bad_upload(app):
    _open(app, "Rollout")
    app.slider(key="discard").set_value(0.5)
    rerun(app)
    _open(app, "Any patch")
    app.number_input(key="patch_row").set_value(3)
    rerun(app)
    _upload(app, "truncated.png", BAD["truncated.png"][0]())  # the page stops before drawing any tab
    app.file_uploader(key="upload").clear()
    rerun(app)
    _open(app, "Pooling focus")
    _open(app, "Rollout")
    assert app.slider(key="discard").value == 0.5
    _open(app, "Any patch")
    assert app.number_input(key="patch_row").value == 3


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
        if view == "Attention vs saliency":
            assert any("has no saliency decoder" in i.value for i in app.info)
        if view in ("Attention head (seed 000)", "Photo search"):  # the head brings its own backbone, and says so
            assert any("trained on **pack:dinov2-small** tokens" in i.value for i in app.info)


def _titles(chart) -> list[str]:
    return [a["text"] for a in json.loads(chart.proto.spec)["layout"].get("annotations", [])]


def test_the_attention_head_tab_shows_each_pooling_head_the_anchor_and_the_kept_patches(app):
    _open(app, "Attention head (seed 000)")
    charts = app.get("plotly_chart")
    assert _titles(charts[0]) == [f"pooling head {h}" for h in range(6)]
    assert _titles(charts[1]) == ["backbone CLS (last layer)"]
    assert _titles(charts[2])[0].startswith("kept by the reducer (")
    table = app.dataframe[0].value
    assert list(table.columns) == ["on the anchor", "on patches", "entropy (bits)"]
    assert ((table["on the anchor"] > 0) & (table["on the anchor"] < 1)).all()
    assert ((table["entropy (bits)"] >= 0) & (table["entropy (bits)"] <= 6 + 1e-6)).all()  # log2 64 = 6


def test_photo_search_finds_the_photo_itself_first_at_every_size(app):
    _open(app, "Photo search")
    for size in (32, 256):
        app.select_slider(key="search_size").set_value(size)
        rerun(app)
        titles = _titles(app.get("plotly_chart")[0])
        assert len(titles) == 6 and titles[0].startswith("astronaut.png · 1.000")


def test_photo_search_explains_a_missing_folder_and_keeps_the_photo(app, tmp_path):
    _open(app, "Photo search")
    outside = []
    for folder in (tmp_path / "nowhere", tmp_path):  # outside the roots: a missing and an existing folder read alike
        app.text_input(key="search_folder").set_value(str(folder))
        rerun(app)
        outside.append([e.value for e in app.error])
    assert outside[0] == outside[1] and outside[0][0].startswith("Only folders inside ")
    app.text_input(key="search_folder").set_value(str(ROOT / "assets" / "nowhere"))  # inside: may say it is missing
    rerun(app)
    assert [e.value for e in app.error] == ["Cannot index nowhere: that folder does not exist."]
    app.text_input(key="search_folder").set_value(str(ROOT / "assets" / "vendor"))  # allowed, but holds no photos
    rerun(app)
    assert app.error[0].value == "Cannot index vendor: no photos (JPEG, PNG, WebP, BMP, GIF, TIFF) there"
    assert app.selectbox(key="example").value == "Astronaut (NASA, public domain)"
