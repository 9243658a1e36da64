"""Several people on one server at once: each sees only their own maps, and a model switch disturbs no one."""

from __future__ import annotations

import pytest

from tests.browser import wait_for_app, wait_for_text

pytestmark = pytest.mark.browser

WORDS = ["elephant", "river", "castle", "winter", "guitar", "doctor"]


def _session(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(app_url)
    return context, page


def _map_text(page) -> str:
    return " ".join(page.locator("[data-testid='stPlotlyChart'] svg").all_text_contents())


def test_six_sessions_typing_at_once_each_see_their_own_tokens(browser, app_url):
    sessions = [_session(browser, app_url) for _ in WORDS]
    try:
        for _, page in sessions:
            wait_for_app(page)
            wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "animal")
        # everyone submits before anyone's result is awaited: the server computes them side by side
        for word, (_, page) in zip(WORDS, sessions, strict=True):
            page.get_by_label("Text", exact=True).fill(f"The {word} stood quietly near the old wall.")
            page.get_by_role("button", name="Show attention").click()
        # and one of them switches model while the others compute
        switcher = sessions[0][1]
        switcher.get_by_label("Model", exact=True).click()
        switcher.get_by_role("option", name="SmolLM2-135M-Instruct (offline pack)").click()
        for word, (_, page) in zip(WORDS, sessions, strict=True):
            wait_for_text(page, "[data-testid='stPlotlyChart'] svg", word)
            wait_for_app(page)
            shown = _map_text(page)
            others = [w for w in WORDS if w != word and w in shown]
            assert others == [], f"session '{word}' shows another session's tokens: {others}"
            assert "Traceback" not in page.inner_text("body") and page.dialogs == []
        wait_for_text(switcher, "[data-testid='stPlotlyChart'] svg", "pack:smollm2")
    finally:
        for context, _ in sessions:
            context.close()
