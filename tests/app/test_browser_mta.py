"""The Multi-Token Attention page in a real Chromium: both maps drawn, a kernel edit redraws offline."""

from __future__ import annotations

import pytest

from tests.browser import open_tab, wait_for_app, wait_for_text
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_standard_and_convolved_maps_and_a_new_preset(page, app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app_url + "/mta")
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "MTA (pre-softmax, diagonal 2×3)")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "standard · layer 0 · head 0")
    wait_for_app(page)
    wait_for_text(page, "body", "not learned")
    page.get_by_label("Kernel preset").click()
    page.get_by_role("option", name="key window").click()
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "key window 2×3")
    page.locator("[data-testid='stButtonGroup']").get_by_text("post-softmax", exact=True).click()
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "MTA (post-softmax")
    assert "Traceback" not in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "mta-page.png"), full_page=True)
    assert page.external_requests == [] and page.dialogs == []


def test_the_trained_toy_models_answer_in_the_browser(page, app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app_url + "/mta")
    wait_for_app(page)
    open_tab(page, "Trained on the toy task")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "mta · layer")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "baseline · layer")
    wait_for_app(page)
    body = page.inner_text("body")
    assert body.count("Answer ") == 2 and "Learned kernels" in body and "Traceback" not in body
    page.get_by_role("textbox", name="…or type a prompt").fill("abc#de")
    page.keyboard.press("Enter")
    wait_for_text(page, "[data-testid='stAlert']", "These models read exactly 8 blocks of 5 letters")
    page.get_by_role("textbox", name="…or type a prompt").fill("")
    page.keyboard.press("Enter")
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "mta · layer")
    page.get_by_text("Learning curves (300 test examples").click()  # the runs carried on past the budget's end
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "the table: end of the 2-hour budget")
    wait_for_text(page, "[data-testid='stExpander']", "The same runs carried on past the budget")
    page.screenshot(path=str(ARTIFACTS / "mta-toy.png"), full_page=True)
    assert page.external_requests == [] and page.dialogs == []
