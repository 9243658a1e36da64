"""`ATTENTION_LENS_MODE=server streamlit run app` in a real Chromium: the picker lists models, nothing is typed."""

from __future__ import annotations

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
    assert options == ["all-MiniLM-L6-v2 (offline pack)", "SmolLM2-135M-Instruct (offline pack)", "gpt2 (hub)"]
    page.keyboard.press("Escape")
    assert page.get_by_label("Hub id or local folder").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "server-mode-picker.png"), full_page=True)
    assert page.external_requests == []
