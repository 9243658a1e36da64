"""The Text page in a real Chromium against a real Streamlit server."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _wait_for_app(page, timeout=120_000):
    page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )


def _open_tab(page, name: str):
    """Click a tab and wait for the rerun it starts to finish."""
    page.get_by_role("tab", name=name).click()
    _wait_for_app(page)


def _submit(page, text: str):
    area = page.get_by_label("Text", exact=True)
    area.fill(text)
    page.get_by_role("button", name="Show attention").click()


def _heatmap_count(page) -> int:
    return page.locator(".js-plotly-plot .heatmaplayer").count()


MODELS = {
    "minilm": ("all-MiniLM-L6-v2 (offline pack)", "bert", "furiously"),
    "smollm2": ("SmolLM2-135M-Instruct (offline pack)", "llama", "iously"),
}


def _wait_for_text(page, selector: str, text: str, timeout=120_000):
    page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel)].some(e => e.textContent.includes(text))",
        arg=[selector, text], timeout=timeout,
    )


@pytest.mark.parametrize("slug", list(MODELS))
def test_a_sentence_gives_maps_and_nothing_leaves_localhost(page, app_url, slug):
    label, family, token = MODELS[slug]
    page.goto(app_url)
    _wait_for_app(page)
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name=label).click()
    _wait_for_text(page, "[data-testid='stSidebar']", f"{family} ·")
    _submit(page, "Colourless green ideas sleep furiously tonight.")
    # the large map is redrawn with this model and these tokens: its tick labels name them
    _wait_for_text(page, "[data-testid='stPlotlyChart'] svg", token)
    _wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "pack:minilm" if slug == "minilm" else "pack:smollm2")
    _wait_for_app(page)
    body = page.inner_text("body")
    assert "layers ×" in body and "Traceback" not in body
    assert _heatmap_count(page) >= 2  # the overview and the selected head
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"text-page-{slug}.png"), full_page=True)
    assert page.external_requests == []
