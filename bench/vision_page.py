"""Benchmark: upload each bundled photo to the Vision page (DINOv2 pack) in a real Chromium.

Prints seconds from the upload until every per-head overlay is drawn, and bytes sent over the
websocket. Goal (issue 4): overlays within a couple of seconds on CPU.

    .venv/bin/python bench/vision_page.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.wire import POLL_MS, WireCounter  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402

# camera.png is shown as the example while the others are uploaded; astronaut.png is the page's default
# example, already drawn on the first visit (Streamlit would not even resend its figure)
PHOTOS = [p for p in sorted((ROOT / "assets" / "photos").glob("*.[pj][np]g"))
          if p.name not in ("camera.png", "astronaut.png")]
PHOTO_IN_PLOT = "() => { const i = document.querySelector('[data-testid=stPlotlyChart] .imagelayer image');" \
                " return i ? i.getAttribute('href') : null; }"
DRAWN = """([name, before]) => {
  const photo = document.querySelector('[data-testid=stPlotlyChart] .imagelayer image');
  return document.body.innerText.includes('Showing your upload ' + name) &&
    !document.querySelector('[data-testid=stStatusWidget]') && photo && photo.getAttribute('href') !== before &&
    document.querySelectorAll('[data-testid=stPlotlyChart] .heatmaplayer image').length >= 7;
}"""


def main() -> None:
    results = []
    with serve_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        counter = WireCounter(page)
        page.goto(url + "/vision")
        page.wait_for_function("() => document.querySelectorAll('.heatmaplayer image').length >= 7", timeout=120_000)
        page.get_by_label("Example photo").click()
        page.get_by_role("option", name="Cameraman, greyscale (CC0)").click()  # not among the uploads' first
        page.wait_for_function("() => document.body.innerText.includes('the example camera.png')", timeout=60_000)
        page.wait_for_timeout(1000)
        for photo in PHOTOS:
            before = page.evaluate(PHOTO_IN_PLOT)
            counter.reset()
            start = time.perf_counter()
            page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(photo))
            page.wait_for_function(DRAWN, arg=[photo.name, before], timeout=120_000, polling=POLL_MS)
            seconds = time.perf_counter() - start
            page.wait_for_timeout(700)  # let the DevTools events of this upload arrive before counting
            results.append((photo.name, seconds, counter.websocket))
        browser.close()
    print("Vision page, DINOv2-small pack, CPU: upload -> all 7 pooling-focus overlays drawn")
    for name, seconds, sent in results:
        print(f"  {name:<16} {seconds:5.2f} s   {sent / 1e6:5.2f} MB over the websocket")
    print(f"  median           {statistics.median(r[1] for r in results):5.2f} s")


if __name__ == "__main__":
    main()
