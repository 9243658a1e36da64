"""Benchmark: eight browser sessions submit different sentences to one server at the same moment.

Prints whether every session saw only its own tokens, and the median and 95th-percentile seconds
from the (simultaneous) submit to each session's maps being drawn.

    .venv/bin/python bench/concurrent_sessions.py [--sessions 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402

WORDS = ["elephant", "river", "castle", "winter", "guitar", "doctor", "garden", "mountain", "window", "captain",
         "forest", "bridge"]
OWN_MAP = """word => { const svgs = [...document.querySelectorAll('[data-testid=stPlotlyChart] svg')];
  return !document.querySelector('[data-testid=stStatusWidget]') && svgs.some(s => s.textContent.includes(word)); }"""
MAP_TEXT = "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] svg')].map(s => s.textContent).join(' ')"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    words = WORDS[: args.sessions]
    with serve_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in words]
        for page in pages:
            page.goto(url)
        for page in pages:
            page.wait_for_function(OWN_MAP, arg="animal", timeout=180_000)
        for word, page in zip(words, pages, strict=True):
            page.get_by_label("Text", exact=True).fill(f"The {word} waited by the door for a long time.")
        start = time.perf_counter()
        for page in pages:  # as close to simultaneous as one driver gets: a few ms apart
            page.get_by_role("button", name="Show attention").click()
        done: dict[str, float] = {}
        while len(done) < len(words):  # poll every session; note when each one's own map is drawn
            for word, page in zip(words, pages, strict=True):
                if word not in done and page.evaluate(OWN_MAP, word):
                    done[word] = time.perf_counter() - start
            time.sleep(0.02)
            if time.perf_counter() - start > 300:
                raise TimeoutError(f"sessions still waiting: {set(words) - set(done)}")
        mixed = {}
        for word, page in zip(words, pages, strict=True):
            shown = page.evaluate(MAP_TEXT)
            others = [w for w in words if w != word and w in shown]
            if others:
                mixed[word] = others
        browser.close()
    times = sorted(done.values())
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"{len(words)} browser sessions, MiniLM, one server on this CPU, simultaneous submits:")
    print(f"  every session saw only its own tokens: {'yes' if not mixed else f'NO: {mixed}'}")
    print(f"  seconds to own maps: median {statistics.median(times):.2f}, p95 {p95:.2f}, max {times[-1]:.2f}")


if __name__ == "__main__":
    main()
