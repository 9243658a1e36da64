"""Benchmark: the Text page (MiniLM) at 32, 128 and 512 tokens, and SmolLM2 at 2,048, in a real Chromium.

Prints, for submitting a new text and (at 512 tokens) opening each tab: seconds from the click
until every figure of that view is drawn, and bytes the server sent over the websocket meanwhile;
beside them, the size of bertviz's own model_view HTML for the same input.
Goals: maps visible within 3 s of submitting 512 tokens; at most 5 MB sent for the page.

    .venv/bin/python bench/text_page.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app")]  # the app's own modules import `shared`, `state` and `views` from app/

from bertviz import model_view  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from views.text import bertviz, heads, maps, walkthrough  # noqa: E402

from bench.wire import POLL_MS, WireCounter, server_peak_rss_mb  # noqa: E402
from models.engine.capture import capture_text  # noqa: E402
from models.engine.loading import load_model  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402

PARAGRAPH = (
    "Attention lets every token look at every other token and decide how much of each to take. "
    "A head scores each pair with a dot product of a query and a key, scales it, and turns the "
    "scores into weights with a softmax; the weighted sum of the values is what the head passes on. "
)
SIZES = (32, 128, 512)
# figures each tab draws, as the view module lists them (MiniLM: its walkthrough reaches W^O)
VIEWS = {"Maps": len(maps.FIGURES), "Single vs multi-head": len(heads.FIGURES),
         "Q·K·V walkthrough": len(walkthrough.FIGURES), "bertviz": len(bertviz.FIGURES)}
DRAWN = """n => {
  const stale = document.querySelector('[data-testid=stStatusWidget]') ||
                ['running', 'rerunRequested'].includes(
                  document.querySelector('[data-testid=stApp]')?.dataset.testScriptState) ||
                document.querySelector('[data-stale=true] [data-testid=stPlotlyChart]');
  const plots = [...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')];
  const drawn = p => p.querySelector('.heatmaplayer image, .imagelayer image, .barlayer .point') ||
                     !p.querySelector('.heatmaplayer, .imagelayer');  // its map's picture, or a figure with none
  return !stale && plots.length >= n && plots.every(drawn);
}"""
# what the drawn maps look like: changes when a new capture's figures are on the page
SIGNATURE = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .heatmaplayer image')]
  .map(i => i.getAttribute('href').slice(-64)).join('|')"""
BERTVIZ_DRAWN = """() => [...document.querySelectorAll('iframe')].filter(f => f.contentDocument &&
  f.contentDocument.querySelector('[id^=bertviz] svg text')).length === 2"""


def _wait_for(page, view: str, timeout: float = 120_000) -> None:
    if view == "bertviz":
        page.wait_for_function(BERTVIZ_DRAWN, timeout=timeout, polling=POLL_MS)
    page.wait_for_function(DRAWN, arg=VIEWS[view], timeout=timeout, polling=POLL_MS)


def _measured(page, counter: WireCounter, start: float) -> tuple[float, int]:
    """Seconds since `start`, then the bytes of this step once its DevTools events have all arrived."""
    seconds = time.perf_counter() - start
    page.wait_for_timeout(700)
    return seconds, counter.websocket


def text_of(tokenizer, tokens: int, limit: int = 512) -> str:
    """A new text (never cached) that the tokenizer reads as exactly `tokens` tokens, or that is cut to `limit`."""
    words = f"Run {uuid.uuid4().hex[:6]}. {PARAGRAPH * (14 * max(1, tokens // 500))}".split()
    if tokens >= limit:
        return " ".join(words)  # longer than the limit: cut with a notice
    count = max(c for c in range(1, len(words) + 1) if len(tokenizer(" ".join(words[:c]))["input_ids"]) <= tokens)
    return " ".join(words[:count])


def submit(page, counter: WireCounter, text: str, figures: int = VIEWS["Maps"]) -> tuple[float, int, int, float]:
    """Type `text`, submit, wait until every Maps figure of the new capture is drawn (`figures` of them):
    (seconds, bytes sent, tokens, seconds until the first new map was drawn)."""
    page.get_by_role("tab", name="Maps").click()
    _wait_for(page, "Maps")
    page.get_by_label("Text", exact=True).fill(text)
    before = page.evaluate(SIGNATURE)
    counter.reset()
    start = time.perf_counter()
    page.get_by_role("button", name="Show attention").click()
    page.wait_for_function(f"before => ({SIGNATURE})() !== before", arg=before, timeout=300_000, polling=POLL_MS)
    first = time.perf_counter() - start  # the chosen head's map, drawn before the overview is computed
    page.wait_for_function(DRAWN, arg=figures, timeout=300_000, polling=POLL_MS)
    seconds, sent = _measured(page, counter, start)
    tokens = int(page.evaluate("() => document.body.innerText.match(/(\\d+) tokens ·/)[1]"))
    return seconds, sent, tokens, first


def open_tabs(page, counter: WireCounter) -> dict[str, tuple[float, int]]:
    """Open every other tab on the current capture: (seconds, bytes) per tab."""
    results = {}
    for view in list(VIEWS)[1:]:
        counter.reset()
        start = time.perf_counter()
        page.get_by_role("tab", name=view).click()
        page.wait_for_timeout(50)  # let the rerun start before polling for "drawn"
        _wait_for(page, view)
        results[view] = _measured(page, counter, start)
    return results


def bertviz_model_view_mb(loaded, text: str) -> float:
    """Size of bertviz's own model_view HTML for the same capture (what a notebook user gets)."""
    capture = capture_text(loaded, text)
    attention = [layer.weights[None] for layer in capture.layers]
    return len(model_view(attention, list(capture.tokens), html_action="return").data) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    loaded = load_model("pack:minilm")
    texts = {n: [text_of(loaded.processor, n) for _ in range(args.runs)] for n in SIZES}
    submits: dict[int, list] = {n: [] for n in SIZES}
    tabs = []
    with serve_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        counter = WireCounter(page)
        page.goto(url)
        _wait_for(page, "Maps")
        page.wait_for_timeout(700)
        first_visit = (counter.http, counter.websocket)
        for run in range(args.runs):
            for n in SIZES:
                submits[n].append(submit(page, counter, texts[n][run]))
            tabs.append(open_tabs(page, counter))  # on the 512-token capture just drawn
        long_runs = long_input(page, counter, args.runs)
        browser.close()
        server_peak = server_peak_rss_mb(url)
    print(f"Text page, MiniLM (pack:minilm), real Chromium, CPU; median of {args.runs} runs, each a new text")
    print(f"first visit: {first_visit[0] / 1e6:.2f} MB of Streamlit's own static files (HTTP, served "
          f"uncompressed, then cached), {first_visit[1] / 1e6:.2f} MB of app data for the default sentence")
    print("| tokens | submit -> all maps drawn | sent over the websocket | bertviz model_view HTML, same input |")
    print("|---|---|---|---|")
    for n in SIZES:
        tokens = submits[n][0][2]
        seconds = statistics.median(r[0] for r in submits[n])
        sent = statistics.median(r[1] for r in submits[n]) / 1e6
        print(f"| {tokens} | {seconds:.2f} s | {sent:.2f} MB | {bertviz_model_view_mb(loaded, texts[n][0]):.1f} MB |")
    for view in tabs[0]:
        seconds = statistics.median(r[view][0] for r in tabs)
        sent = statistics.median(r[view][1] for r in tabs) / 1e6
        print(f"| 512, then open {view} | {seconds:.2f} s | {sent:.2f} MB | |")
    seconds = statistics.median(r[0] for r in long_runs)
    sent = statistics.median(r[1] for r in long_runs) / 1e6
    first = statistics.median(r[3] for r in long_runs)
    print(f"| {long_runs[0][2]}, SmolLM2 (max-pooled map + exact window; the chosen head's map drawn at "
          f"{first:.2f} s, then the overview) | {seconds:.2f} s | {sent:.2f} MB | |")
    print(f"server peak RSS (VmHWM) after these runs, both packs loaded, captures cached: {server_peak:.0f} MB")


def long_input(page, counter: WireCounter, runs: int) -> list[tuple[float, int, int, float]]:
    """SmolLM2 at 2,048 tokens (issue 19): submit -> the mosaic, head numbers, pooled map and window drawn."""
    tokenizer = load_model("pack:smollm2-135m").processor
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name="SmolLM2-135M-Instruct (offline pack)").click()
    page.get_by_role("tab", name="Maps").click()  # main() comes here from the last tab it opened
    _wait_for(page, "Maps", timeout=300_000)
    page.wait_for_timeout(700)
    return [submit(page, counter, text_of(tokenizer, 2048, limit=4096), VIEWS["Maps"] + 1) for _ in range(runs)]


if __name__ == "__main__":
    main()
