"""Benchmark: many browser sessions on one server. Real Chromium contexts, each submitting its own sentence.

1. N sessions submit at the same moment (local mode): does every session see only its own tokens, how many
   exceptions, p50 / p95 / max seconds to its own maps, peak server RSS.
2. M sessions one after another, each closed when done: server RSS along the way (does it return to a
   steady level?).
3. The N simultaneous sessions again in server mode with K capture turns: the queue at work.

    .venv/bin/python bench/concurrent_sessions.py [--sessions 32] [--sequential 200] [--slots 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.wire import server_peak_rss_mb, server_rss_mb  # noqa: E402
from tests.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402

# single tokens for MiniLM, so each session's own word is a tick label of its own map
WORDS = ("elephant", "river", "castle", "winter", "guitar", "doctor", "garden", "mountain", "window", "captain",
         "forest", "bridge", "teacher", "ocean", "village", "kitchen", "pilot", "island", "engine", "soldier",
         "farmer", "market", "church", "desert", "horse", "rabbit", "tiger", "dragon", "pencil", "bottle", "camera",
         "planet", "valley", "harbor", "library", "museum", "sister", "letter", "hammer", "circus")
OWN_MAP = """word => { const svgs = [...document.querySelectorAll('[data-testid=stPlotlyChart] svg')];
  return !document.querySelector('[data-testid=stStatusWidget]') && svgs.some(s => s.textContent.includes(word)); }"""
MAP_TEXT = "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] svg')].map(s => s.textContent).join(' ')"
EXCEPTIONS = "() => document.querySelectorAll('[data-testid=stException]').length"
QUEUED = "() => (document.body.innerText.match(/Queued: (\\d+) ahead/) || [null, null])[1]"


def _open(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    return page


def _submit(page, word: str) -> None:
    page.get_by_label("Text", exact=True).fill(f"The {word} waited by the door for a long time.")
    page.get_by_role("button", name="Show attention").click()


def simultaneous(browser, url: str, sessions: int) -> dict:
    """`sessions` pages submit at once; when each sees its own map, whether it saw another's, the queue."""
    words = WORDS[:sessions]
    pages = [_open(browser, url) for _ in words]
    for page in pages:
        page.wait_for_function(OWN_MAP, arg="animal", timeout=600_000)  # the default sentence, drawn
    for word, page in zip(words, pages, strict=True):
        page.get_by_label("Text", exact=True).fill(f"The {word} waited by the door for a long time.")
    start = time.perf_counter()
    for page in pages:  # as close to simultaneous as one driver gets: a few ms apart
        page.get_by_role("button", name="Show attention").click()
    done: dict[str, float] = {}
    queued: dict[str, int] = {}
    while len(done) < len(words):  # poll every session: its own map drawn yet? told it is queued?
        for word, page in zip(words, pages, strict=True):
            if word in done:
                continue
            ahead = page.evaluate(QUEUED)
            if ahead is not None:
                queued[word] = max(queued.get(word, 0), int(ahead))
            if page.evaluate(OWN_MAP, word):
                done[word] = time.perf_counter() - start
        if time.perf_counter() - start > 900:
            raise TimeoutError(f"sessions still waiting: {set(words) - set(done)}")
    mixed = {w: [o for o in words if o != w and o in page.evaluate(MAP_TEXT)] for w, page in zip(words, pages,
                                                                                              strict=True)}
    exceptions = sum(page.evaluate(EXCEPTIONS) for page in pages)
    for page in pages:
        page.context.close()
    times = sorted(done.values())
    log = (ARTIFACTS / f"streamlit-server-{url.rsplit(':', 1)[1]}.log").read_text()
    waits = [int(n) for n in re.findall(r"capture queued: (\d+) ahead", log)]
    return dict(mixed={w: o for w, o in mixed.items() if o}, exceptions=exceptions, times=times, queued=queued,
                waits=waits, peak_mb=server_peak_rss_mb(url))


def one_after_another(browser, url: str, sessions: int, every: int = 25) -> list[tuple[int, float]]:
    """`sessions` pages, each opened, submitted, drawn and closed in turn: (sessions so far, server RSS MB)."""
    samples = [(0, server_rss_mb(url))]
    for i in range(1, sessions + 1):
        word = WORDS[i % len(WORDS)]
        page = _open(browser, url)
        page.wait_for_function(OWN_MAP, arg="animal", timeout=120_000)
        _submit(page, word)
        page.wait_for_function(OWN_MAP, arg=word, timeout=120_000)
        page.context.close()
        if i % every == 0:
            time.sleep(2)  # let the server notice the closed session
            samples.append((i, server_rss_mb(url)))
    return samples


def _report(title: str, result: dict) -> None:
    times = result["times"]
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(title)
    mixed = result["mixed"]
    print(f"  every session saw only its own tokens: {'yes' if not mixed else f'NO: {mixed}'}")
    print(f"  exceptions shown: {result['exceptions']}")
    print(f"  seconds to own maps: p50 {statistics.median(times):.2f}, p95 {p95:.2f}, max {times[-1]:.2f}")
    if result["waits"]:
        print(f"  captures that waited for a turn (server log): {len(result['waits'])}, most ahead: "
              f"{max(result['waits'])}; pages caught showing 'Queued: N ahead' by the poll: {len(result['queued'])}")
    print(f"  server peak RSS (VmHWM): {result['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2, help="capture turns (K) for the server-mode run")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        with serve_app() as url:
            _report(f"{args.sessions} browser sessions, MiniLM, one local-mode server on this CPU, simultaneous "
                    "submits:", simultaneous(browser, url, args.sessions))
            if args.sequential:
                samples = one_after_another(browser, url, args.sequential)
                print(f"{args.sequential} sessions one after another, each closed when done (same server): RSS MB "
                      + ", ".join(f"{rss:.0f} after {n}" for n, rss in samples))
        with serve_app({"ATTENTION_LENS_MODE": "server", "ATTENTION_LENS_CONCURRENT_CAPTURES": str(args.slots)}) as url:
            _report(f"{args.sessions} sessions again, server mode, K = {args.slots} captures at once:",
                    simultaneous(browser, url, args.sessions))
        browser.close()


if __name__ == "__main__":
    main()
