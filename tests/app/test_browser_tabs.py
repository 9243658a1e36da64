"""Every tab of the Text page in a real Chromium: figures drawn, downloads work, typed markup stays text."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from tests.browser import POLL_MS, open_tab, submit, wait_for_app, wait_for_text
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

VIEWS = ("Maps", "Single vs multi-head", "Q·K·V walkthrough", "bertviz")
FIGURES = {"Maps": 3, "Single vs multi-head": 4, "Q·K·V walkthrough": 7, "bertviz": 0}
EVIL = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


def _plots(page) -> int:
    return page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot .main-svg").count() // 2 or 0


def _bertviz_frames(page):
    """The two bertviz views (frames whose page carries bertviz's root div), once their SVG is drawn."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe')].filter(f => f.contentDocument"
        " && f.contentDocument.querySelector('[id^=bertviz] svg text')).length === 2",
        timeout=60_000, polling=POLL_MS,
    )
    return [f for f in page.frames if f.locator("[id^=bertviz] svg").count()]


def _visit_every_tab(page, expect_text: str):
    for view in VIEWS:
        open_tab(page, view)
        if view == "bertviz":
            frames = _bertviz_frames(page)
            assert len(frames) == 2
            drawn = [frame.locator("svg").first.text_content() for frame in frames]
            assert any(expect_text in text for text in drawn)  # the head view writes every token
            assert any(text.startswith("Heads") and "Layers" in text for text in drawn)  # the model view
        else:
            page.wait_for_function(
                "n => document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot').length >= n",
                arg=FIGURES[view], timeout=60_000, polling=POLL_MS,
            )
        assert "Traceback" not in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / f"tab-{VIEWS.index(view)}.png"), full_page=True)


def test_every_tab_draws_its_figures_offline(page, app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app_url)
    wait_for_app(page)
    submit(page, "Colourless green ideas sleep furiously tonight.")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "furiously")
    _visit_every_tab(page, "furiously")
    assert page.external_requests == [] and page.dialogs == []


def test_typed_markup_stays_text_in_every_view(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    submit(page, EVIL)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "alert")
    _visit_every_tab(page, "alert")
    page.wait_for_timeout(1500)  # give any injected handler (img onerror) time to fire
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    for frame in page.frames:
        assert frame.locator("img[src='x']").count() == 0 and frame.locator("script:text('alert')").count() == 0


@pytest.mark.parametrize("image_format", ["PNG", "SVG"])
def test_figures_download_as_png_and_svg(page, app_url, image_format):
    page.goto(app_url)
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "animal")
    # PNG is already chosen: a second click must keep it (it once deselected it, and every figure then failed)
    page.locator("[data-testid='stButtonGroup']").get_by_text(image_format, exact=True).click()
    wait_for_app(page)
    assert page.locator("[data-testid='stException']").count() == 0
    chart = page.locator("[data-testid='stPlotlyChart']").last
    chart.hover()
    # plotly titles the camera button by format: clicking only once it says the new one avoids racing the rerun
    title = "Download plot as a PNG" if image_format == "PNG" else "Download plot"
    with page.expect_download(timeout=60_000) as download:
        chart.locator(f".modebar-btn[data-title='{title}']").click()
    data = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == f"attention-L0-H0.{image_format.lower()}"
    if image_format == "PNG":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    else:
        assert data.lstrip()[:4] == b"<svg" and b"animal" in data


def test_capture_downloads_as_npz(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "animal")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=re.compile("Download the capture")).click()
    arrays = np.load(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert arrays["weights"].shape == (6, 12, 16, 16) and "animal" in arrays["tokens"].tolist()
    assert page.external_requests == []
