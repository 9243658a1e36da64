"""Benchmark: the Text page at the model's full length (MiniLM, 512 tokens) in a real Chromium.

Prints, for submitting a new 512-token text and then opening each tab: seconds from the click
until every figure of that view is drawn, and bytes the server sent over the websocket meanwhile.
Goals (issue 3): maps visible within 3 s of submitting; at most 5 MB sent for the page.

    .venv/bin/python bench/text_page.py [--model pack:minilm] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.wire import WireCounter  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402

PARAGRAPH = (
    "Attention lets every token look at every other token and decide how much of each to take. "
    "A head scores each pair with a dot product of a query and a key, scales it, and turns the "
    "scores into weights with a softmax; the weighted sum of the values is what the head passes on. "
)
VIEWS = {"Maps": 3, "Single vs multi-head": 4, "Q·K·V walkthrough": 7, "bertviz": 0}
DRAWN = """n => {
  const stale = document.querySelector('[data-testid=stStatusWidget]') ||
                document.querySelector('[data-stale=true] [data-testid=stPlotlyChart]');
  const plots = [...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')];
  return !stale && plots.length >= n && plots.every(p => p.querySelector('.heatmaplayer image, .barlayer .point')
                                                        || p.querySelector('.heatmaplayer') === null);
}"""
BERTVIZ_DRAWN = """() => [...document.querySelectorAll('iframe')].filter(f => f.contentDocument &&
  f.contentDocument.querySelector('[id^=bertviz] svg text')).length === 2"""


def _wait_for(page, view: str, timeout: float = 120_000) -> None:
    if view == "bertviz":
        page.wait_for_function(BERTVIZ_DRAWN, timeout=timeout, polling="raf")
    page.wait_for_function(DRAWN, arg=VIEWS[view], timeout=timeout, polling="raf")


def _measured(page, counter: WireCounter, start: float) -> tuple[float, int]:
    """Seconds since `start`, then the bytes of this step once its DevTools events have all arrived."""
    seconds = time.perf_counter() - start
    page.wait_for_timeout(700)
    return seconds, counter.websocket


def run_once(page, counter: WireCounter) -> dict[str, tuple[float, int]]:
    """Submit a new 512-token text (never cached), then open every tab; (seconds, bytes) per step."""
    results = {}
    page.get_by_role("tab", name="Maps").click()
    _wait_for(page, "Maps")
    text = f"Run {uuid.uuid4().hex}. " + PARAGRAPH * 12  # ~700 tokens: cut to 512 with a notice
    page.get_by_label("Text", exact=True).fill(text)
    counter.reset()
    start = time.perf_counter()
    page.get_by_role("button", name="Show attention").click()
    page.wait_for_function("() => document.body.innerText.includes('512 tokens')", timeout=120_000, polling="raf")
    _wait_for(page, "Maps")
    results["submit → Maps"] = _measured(page, counter, start)
    for view in list(VIEWS)[1:]:
        counter.reset()
        start = time.perf_counter()
        page.get_by_role("tab", name=view).click()
        page.wait_for_timeout(50)  # let the rerun start before polling for "drawn"
        _wait_for(page, view)
        results[f"open {view}"] = _measured(page, counter, start)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with serve_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        counter = WireCounter(page)
        page.goto(url)
        _wait_for(page, "Maps")
        print(f"first visit: {counter.http / 1e6:.2f} MB of Streamlit's own static files (HTTP, served "
              f"uncompressed, then cached), {counter.websocket / 1e6:.2f} MB of app data for the default sentence")
        runs = [run_once(page, counter) for _ in range(args.runs)]
        browser.close()
    print(f"\nMiniLM (pack:minilm), 512 tokens, {args.runs} runs, CPU: "
          f"median seconds until drawn, median MB sent over the websocket")
    for step in runs[0]:
        seconds = statistics.median(r[step][0] for r in runs)
        megabytes = statistics.median(r[step][1] for r in runs) / 1e6
        print(f"  {step:<28} {seconds:6.2f} s   {megabytes:6.2f} MB")


if __name__ == "__main__":
    main()
