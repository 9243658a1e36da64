"""The Text page in a real Chromium against a real Streamlit server."""

from __future__ import annotations

import time

import pytest

from tests.browser import POLL_MS, open_tab, open_with_model, submit, wait_for_app, wait_for_text
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


# records, from now on, whether a spinner ever showed, the last text of a progress bar and whether any part of it
# glided (a CSS transition: frames the browser composites while the model runs)
WATCH_PROGRESS = """() => {
  window.lensSeen = {spinner: false, bar: '', glides: false};
  new MutationObserver(() => {
    if (document.querySelector('[data-testid=stSpinner]')) window.lensSeen.spinner = true;
    const bar = document.querySelector('[data-testid=stProgress]');
    if (bar) {
      window.lensSeen.bar = bar.textContent;
      if ([...bar.querySelectorAll('*')].some(e => parseFloat(getComputedStyle(e).transitionDuration) > 0))
        window.lensSeen.glides = true;
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


MAPS = ".js-plotly-plot .heatmaplayer, .js-plotly-plot .imagelayer image"  # heatmaps, and thumbnails as pictures


def _heatmap_count(page) -> int:
    return page.locator(MAPS).count()


def _wait_for_heatmaps(page, count: int) -> None:
    """Plotly draws each figure a moment after the script run that sent it has ended."""
    page.wait_for_function(f"() => document.querySelectorAll({MAPS!r}).length >= {count}", timeout=30_000,
                           polling=POLL_MS)


MODELS = {
    "minilm": ("all-MiniLM-L6-v2 (offline pack)", "bert", "furiously"),
    "smollm2": ("SmolLM2-135M-Instruct (offline pack)", "llama", "iously"),
}


@pytest.mark.parametrize("slug", list(MODELS))
def test_a_sentence_gives_maps_and_nothing_leaves_localhost(page, app_url, slug):
    label, family, token = MODELS[slug]
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name=label).click()
    wait_for_text(page, "[data-testid='stSidebar']", f"{family} ·")
    submit(page, "Colourless green ideas sleep furiously tonight.")
    # the large map is redrawn with this model and these tokens: its tick labels name them
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", token)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "pack:minilm" if slug == "minilm" else "pack:smollm2")
    wait_for_app(page)
    body = page.inner_text("body")
    assert "layers ×" in body and "Traceback" not in body
    # the selected head, then the overview and the per-head grid (plotly draws each a moment after the run ends)
    _wait_for_heatmaps(page, 3)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"text-page-{slug}.png"), full_page=True)
    assert page.external_requests == []


def test_generation_ablation_and_ab_run_in_the_browser(page, app_url):
    """SmolLM2 continues the text, loses three heads, reads the tired/wide pair: every flow draws, offline."""
    open_with_model(page, app_url, MODELS["smollm2"][0], "llama")
    open_tab(page, "Generation")
    page.get_by_label("New tokens").fill("4")
    page.get_by_role("button", name="Generate").click()
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "every step")
    wait_for_text(page, "[data-testid='stMarkdown']", "Continuation")
    wait_for_app(page)
    assert "next-token probabilities at step 3" in page.inner_text("body") or _heatmap_count(page) >= 2
    open_tab(page, "Ablation")
    page.get_by_role("button", name="Run again without them").click()
    wait_for_text(page, "[data-testid='stMetric']", "KL(original")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "heads removed")
    wait_for_app(page)
    open_tab(page, "A/B")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "B − A")
    wait_for_app(page)
    body = page.inner_text("body")
    assert "matched in order" in body and "Traceback" not in body
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "text-page-ab.png"), full_page=True)
    assert page.external_requests == [] and page.dialogs == []


def test_the_dates_encoder_decoder_translates_and_replays_its_attention_in_the_browser(page, app_url):
    """The shipped Marian model writes an ISO date; its cross-attention, a replayed step, every head's row at a step
    and bertviz's Encoder / Decoder / Cross views draw, offline."""
    open_with_model(page, app_url, "Dates in words → ISO, a Marian encoder–decoder (trained here)", "marian")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "cross-attention · layer 0 · head 0")
    wait_for_app(page)
    page.get_by_role("button", name="A held-out test date").click()
    wait_for_text(page, "[data-testid='stCaptionContainer']", "Test date 1: the answer is")
    wait_for_app(page)
    assert "so the model is right" in page.inner_text("body")
    slider = page.get_by_role("slider")
    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "after step 6")
    wait_for_app(page)
    open_tab(page, "Step by step")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "Every head's cross-attention at step 6")
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "% aligned")
    open_tab(page, "bertviz")
    frame = page.frame_locator("iframe").first
    options = frame.locator("select option")
    options.first.wait_for(state="attached", timeout=60_000)
    assert {"Encoder", "Decoder", "Cross"} <= set(options.all_inner_texts())
    wait_for_app(page)
    body = page.inner_text("body")
    assert "Traceback" not in body
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "text-page-seq2seq.png"), full_page=True)
    assert page.external_requests == [] and page.dialogs == []


def test_a_2048_token_text_draws_pooled_maps_and_an_exact_window_in_the_browser(page, app_url):
    """SmolLM2 at 2,048 tokens (issue 19): while the model runs, one progress bar counting its layers and no spinner
    beside it; then the mosaic, the head numbers, the max-pooled map and its exact window."""
    open_with_model(page, app_url, MODELS["smollm2"][0], "llama")
    page.evaluate(WATCH_PROGRESS)
    start = time.perf_counter()
    submit(page, " a" * 2048)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "max-pooled to 256×256 blocks", timeout=300_000)
    wait_for_text(page, "[data-testid='stPlotlyChart'] svg", "keys 1792–2047, exact", timeout=300_000)
    wait_for_app(page, timeout=300_000)
    seen = page.evaluate("() => window.lensSeen")
    assert not seen["spinner"]
    if time.perf_counter() - start > 3:  # the bar waits 0.5 s before it shows: a fast machine may never need it
        assert "Running the model and capturing every attention map: layer " in seen["bar"]
        assert not seen["glides"]  # it steps from layer to layer (see app/streamlit_app.py)
    body = page.inner_text("body")
    assert "2048 tokens" in body and "Traceback" not in body
    _wait_for_heatmaps(page, 4)  # pooled map, window, mosaic, head numbers
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "text-page-2048.png"), full_page=True)
    assert page.external_requests == []
