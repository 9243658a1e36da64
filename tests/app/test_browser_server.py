"""`ATTENTION_LENS_MODE=server streamlit run app` in a real Chromium: the picker lists models, nothing is typed."""

from __future__ import annotations

import time

import pytest

from tests.browser import wait_for_app, wait_for_text
from tests.conftest import ARTIFACTS, serve_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_url():
    with serve_app({"ATTENTION_LENS_MODE": "server", "ATTENTION_LENS_HUB_IDS": "gpt2"}) as url:
        yield url


def test_the_server_mode_picker_has_no_free_text_field(page, server_url):
    page.goto(server_url)
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stSidebar']", "bert ·")  # the first pack loaded and described
    page.get_by_label("Model", exact=True).click()
    options = page.get_by_role("option").all_inner_texts()
    assert options == ["all-MiniLM-L6-v2 (offline pack)", "SmolLM2-135M-Instruct (offline pack)",
                       "Dates in words → ISO, a Marian encoder–decoder (trained here)", "gpt2 (hub)"]
    page.keyboard.press("Escape")
    assert page.get_by_label("Hub id or local folder").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "server-mode-picker.png"), full_page=True)
    assert page.external_requests == []


def _long_text(word: str) -> str:
    return f"The {word} " + " ".join(f"{word} number {i} waited in line." for i in range(50))  # under 512 tokens:
    # drawn at full resolution, so every token labels the map


def test_a_visitor_whose_capture_waits_for_a_turn_sees_the_queue_then_their_own_maps(browser):
    """One capture turn (K = 1) and two visitors submitting ~450-token SmolLM2 texts at once: the second is told
    it is queued while the first computes (about 1.5 s here), then both see their own maps."""
    words = ("apricot", "walnut")
    with serve_app({"ATTENTION_LENS_MODE": "server", "ATTENTION_LENS_CONCURRENT_CAPTURES": "1"}) as url:
        contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in words]
        pages = [context.new_page() for context in contexts]
        try:
            for page, word in zip(pages, words, strict=True):
                page.goto(url)
                wait_for_app(page)
                page.get_by_label("Model", exact=True).click()
                page.get_by_role("option", name="SmolLM2-135M-Instruct (offline pack)").click()
                wait_for_text(page, "[data-testid='stSidebar']", "llama ·")
                wait_for_app(page)
                page.get_by_label("Text", exact=True).fill(_long_text(word))
            for page in pages:  # both submit before either is awaited
                page.get_by_role("button", name="Show attention").click()
            seen, deadline = [], time.monotonic() + 60
            while not seen and time.monotonic() < deadline:
                seen = [w for page, w in zip(pages, words, strict=True) if "Queued: " in page.inner_text("body")]
                time.sleep(0.05)
            assert seen, "no visitor was shown the queue"
            assert "This server runs 1 capture(s) at once" in pages[words.index(seen[0])].inner_text("body")
            for page, word in zip(pages, words, strict=True):
                wait_for_text(page, "[data-testid='stPlotlyChart'] svg", word)
                wait_for_app(page)
                shown = " ".join(page.locator("[data-testid='stPlotlyChart'] svg").all_text_contents())
                assert [w for w in words if w != word and w in shown] == []
                assert "Queued: " not in page.inner_text("body") and "Traceback" not in page.inner_text("body")
        finally:
            for context in contexts:
                context.close()
        log = (ARTIFACTS / f"streamlit-server-{url.rsplit(':', 1)[1]}.log").read_text()
        assert "capture queued: 0 ahead, 1 capture turn(s)" in log
