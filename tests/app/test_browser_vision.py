"""The Vision page in a real Chromium: a real upload, a broken file, a click on a patch."""

from __future__ import annotations

import re

import pytest

from tests.browser import POLL_MS, open_tab, wait_for_app, wait_for_text
from tests.conftest import ARTIFACTS, ROOT
from tests.image_files import BAD

pytestmark = pytest.mark.browser


def _upload(page, name: str, data: bytes, mime: str):
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    wait_for_app(page)


def test_upload_a_photo_see_its_focus_then_a_broken_file_only_gives_a_message(page, app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app_url + "/vision")
    wait_for_app(page)
    _upload(page, "coffee.png", (ROOT / "assets" / "photos" / "coffee.png").read_bytes(), "image/png")
    wait_for_text(page, "[data-testid='stMarkdown']", "Showing your upload coffee.png")
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "head 5")
    assert page.locator("[data-testid='stPlotlyChart'] .heatmaplayer").count() >= 7
    page.screenshot(path=str(ARTIFACTS / "vision-upload.png"), full_page=True)

    _upload(page, "truncated.png", BAD["truncated.png"][0](), "image/png")
    wait_for_text(page, "[data-testid='stAlert']", "damaged or truncated")
    wait_for_text(page, "[data-testid='stCaptionContainer']", "keeps working")  # drawn after the alert
    wait_for_app(page)
    assert "Traceback" not in page.inner_text("body")
    assert page.get_by_label("Model", exact=True).is_visible()  # the rest of the page is still there
    assert page.external_requests == [] and page.dialogs == []


def test_clicking_a_patch_makes_it_the_query(page, app_url):
    page.goto(app_url + "/vision")
    wait_for_app(page)
    open_tab(page, "Any patch")
    wait_for_text(page, "[data-testid='stMarkdown']", "as the query")
    picker = page.locator("[data-testid='stPlotlyChart']").first
    picker.locator(".heatmaplayer, .imagelayer image, .layer-above").first.wait_for()
    box = picker.locator(".nsewdrag").first.bounding_box()  # the plot area: the photo fills it
    page.mouse.click(box["x"] + box["width"] * (13.5 / 16), box["y"] + box["height"] * (2.5 / 16))
    wait_for_app(page)
    page.wait_for_function("() => document.body.innerText.includes('Patch (2, 13)')", timeout=30_000,
                           polling=POLL_MS)
    text = page.inner_text("body")
    assert re.search(r"Patch \(2, 13\) as the query", text)
    page.screenshot(path=str(ARTIFACTS / "vision-patch.png"), full_page=True)
    assert page.external_requests == []


def test_a_tab_has_its_own_link(page, app_url):
    page.goto(app_url + "/vision?vision_view=Rollout")
    wait_for_app(page)
    assert page.get_by_role("tab", name="Rollout").get_attribute("aria-selected") == "true"
    wait_for_text(page, "[data-testid='stMarkdown']", "Abnar & Zuidema")
    open_tab(page, "Photo search")
    assert page.url.endswith("/vision?vision_view=Photo+search")  # switching tabs updates the link
    open_tab(page, "Pooling focus")
    assert page.url.endswith("/vision")  # the default tab needs no parameter


@pytest.mark.parametrize("name", [n for n in BAD if n != "truncated.png"])  # truncated: the test above
def test_every_kind_of_bad_file_gives_its_message_in_the_browser(page, app_url, name):
    make, message = BAD[name]
    page.goto(app_url + "/vision")
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stMarkdown']", "Showing the example")
    _upload(page, name, make(), "image/png")
    wait_for_text(page, "[data-testid='stAlert']", message)
    assert "Traceback" not in page.inner_text("body") and page.dialogs == []


def test_the_attention_head_and_photo_search_tabs_draw_offline(page, app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app_url + "/vision")
    wait_for_app(page)
    open_tab(page, "Attention head (seed 000)")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "pooling head 5")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "kept by the reducer")
    page.screenshot(path=str(ARTIFACTS / "vision-head.png"), full_page=True)
    open_tab(page, "Photo search")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "astronaut.png · 1.000")
    page.screenshot(path=str(ARTIFACTS / "vision-search.png"), full_page=True)
    assert "Traceback" not in page.inner_text("body")
    assert page.external_requests == [] and page.dialogs == []
