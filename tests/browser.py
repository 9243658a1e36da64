"""Driving the app in a real Chromium: wait for a run to end, open a tab, submit a text, wait for a text."""

from __future__ import annotations

# How often a wait checks the page, in ms: the default ("raf", every animation frame) makes Chromium render ~60 frames
# a second while it waits, CPU taken from the model on the same cores (see bench/wire.py).
POLL_MS = 50


def wait_for_app(page, timeout=120_000):
    """Wait until the page is drawn and no script run is in progress."""
    page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout)
    # the app root names the script's state (the status widget is not drawn with toolbarMode = "minimal")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && !['running', 'rerunRequested']"
        ".includes(document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState)", timeout=timeout,
        polling=POLL_MS,
    )


def open_tab(page, name: str):
    """Click a tab and wait for the rerun it starts to finish."""
    page.get_by_role("tab", name=name).click()
    wait_for_app(page)


def submit(page, text: str):
    """Type `text` into the Text page's input and press its button."""
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_role("button", name="Show attention").click()


def wait_for_text(page, selector: str, text: str, timeout=120_000):
    """Wait until an element matching `selector` contains `text` (fails the test on timeout)."""
    page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel)].some(e => e.textContent.includes(text))",
        arg=[selector, text], timeout=timeout, polling=POLL_MS,
    )


def open_with_model(page, url: str, label: str, family: str):
    """Open the app at `url`, choose the model `label` in the sidebar, wait until `family` has loaded."""
    page.goto(url)
    wait_for_app(page)
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name=label).click()
    wait_for_text(page, "[data-testid='stSidebar']", f"{family} ·")
    wait_for_app(page)
