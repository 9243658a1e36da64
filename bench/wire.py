"""What the browser receives, counted through the Chrome DevTools Protocol."""

from __future__ import annotations

import base64
from pathlib import Path

# How often a benchmark checks whether the page is drawn, in ms. Not polling="raf": a check on every animation frame
# makes the page render 60 frames a second, CPU the browser then takes from the model on a machine that runs both
# (SmolLM2 at 2,048 tokens: 56 frames/s against 13, ~0.8 CPU-s of the renderer's over one capture).
POLL_MS = 20


class WireCounter:
    """Bytes the page receives: websocket frames (the app's data) and HTTP bodies (static files)."""

    def __init__(self, page):
        self.session = page.context.new_cdp_session(page)
        self.session.send("Network.enable")
        self.websocket = self.http = 0
        self.session.on("Network.webSocketFrameReceived", self._frame)
        self.session.on("Network.loadingFinished", self._loaded)

    def _frame(self, event):
        response = event["response"]
        payload = response["payloadData"]
        self.websocket += len(base64.b64decode(payload)) if response["opcode"] == 2 else len(payload.encode())

    def _loaded(self, event):
        self.http += int(event.get("encodedDataLength", 0))

    def reset(self) -> None:
        self.websocket = self.http = 0


def server_peak_rss_mb(url: str, field: str = "VmHWM") -> float:
    """Peak resident memory (VmHWM; or another /proc status `field`) of the `streamlit run` process serving
    `url` (Linux /proc)."""
    port = url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, PermissionError):
            continue
        if b"streamlit" in b" ".join(cmdline) and port.encode() in cmdline:
            status = (proc / "status").read_text().splitlines()
            return int(next(line for line in status if line.startswith(field + ":")).split()[1]) / 1024
    raise LookupError(f"no streamlit process serves {url}")


def server_rss_mb(url: str) -> float:
    """Resident memory now (VmRSS) of the `streamlit run` process serving `url`."""
    return server_peak_rss_mb(url, "VmRSS")
