"""Benchmark: Attention Lens for a team behind nginx (deploy/nginx.conf): first-visit bytes with and without
gzip, and browser sessions spread over two replicas with sticky sessions.

Needs Debian's nginx (`apt-get install nginx-light`).

    .venv/bin/python bench/proxy.py [--sessions 8]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.concurrent_sessions import OWN_MAP, WORDS  # noqa: E402
from bench.wire import WireCounter  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, serve_app  # noqa: E402

CONFIG = ROOT / "deploy" / "nginx.conf"


@contextmanager
def nginx(replicas: list[str]):
    """deploy/nginx.conf with its ports replaced by the replicas' and a free one; yields (URL, its folder)."""
    port = _free_port()
    text = CONFIG.read_text().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    for default, url in zip(("127.0.0.1:8501", "127.0.0.1:8502"), replicas, strict=True):
        text = text.replace(default, url.removeprefix("http://"))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "nginx.conf").write_text(text)
        server = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", folder, "-c", "nginx.conf",
                                   "-g", "daemon off;"], stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(50):
                try:
                    urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            yield url, Path(folder)
        finally:
            server.terminate()
            server.wait(timeout=10)


def first_visit_mb(browser, url: str) -> float:
    """MB the browser receives over HTTP (as sent: compressed when gzip applies) on a first visit, maps drawn."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    wire = WireCounter(page)
    page.goto(url)
    page.wait_for_function(OWN_MAP, arg="animal", timeout=180_000)
    page.context.close()
    return wire.http / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    with serve_app() as first, serve_app() as second, nginx([first, second]) as (url, folder), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        direct, proxied = first_visit_mb(browser, first), first_visit_mb(browser, url)
        pages = []
        for word in WORDS[: args.sessions]:  # each its own browser context: its own cookies, as separate people
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url)
            page.wait_for_function(OWN_MAP, arg="animal", timeout=180_000)
            page.get_by_label("Text", exact=True).fill(f"The {word} waited by the door for a long time.")
            page.get_by_role("button", name="Show attention").click()
            pages.append((word, page))
        drawn = sum(bool(page.wait_for_function(OWN_MAP, arg=word, timeout=180_000)) for word, page in pages)
        browser.close()
        log = [line.split() for line in (folder / "access.log").read_text().splitlines()]
    replicas = collections.Counter(fields[1] for fields in log if fields[0] == "/_stcore/stream")
    served: dict[str, set[str]] = collections.defaultdict(set)  # each browser's cookie -> replicas it reached
    for fields in log:
        if len(fields) == 4 and fields[3] != "-":
            served[fields[3]].add(fields[1])
    print("nginx (deploy/nginx.conf) in front of two Streamlit replicas on this machine:")
    print(f"  first visit, HTTP bytes: {direct:.2f} MB straight from Streamlit, {proxied:.2f} MB through nginx gzip")
    print(f"  {args.sessions} browser sessions through nginx: {drawn} drew their own maps; websocket sessions per "
          f"replica: {', '.join(f'{n} on {u}' for u, n in sorted(replicas.items()))}")
    print(f"  sticky: {sum(len(r) == 1 for r in served.values())} of {len(served)} browsers sent every request "
          "(websocket, health, static files) to one replica")


if __name__ == "__main__":
    main()
