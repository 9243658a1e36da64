"""The app script under Streamlit's AppTest: started on a page, driven one rerun at a time."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")


def rerun(at: AppTest) -> AppTest:
    """Run the script again; a traceback fails the test."""
    at.run()
    assert not at.exception, at.exception
    return at


def start_app(page: str | None = None, timeout: float = 120) -> AppTest:
    """The real app, run once, then switched to `page` (e.g. "app_pages/vision.py") if given."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page is not None:
        at.switch_page(page)
    return rerun(at)


def open_view(at: AppTest, tabs_key: str, view: str) -> AppTest:
    """Open the tab `view` of the st.tabs whose key is `tabs_key` (lazy tabs: only it is built)."""
    at.session_state[tabs_key] = view
    return rerun(at)


def heatmap_values(spec: dict) -> np.ndarray:
    """A figure's first heatmap's values from its plotly spec (a base64 typed array or nested lists)."""
    z = spec["data"][0]["z"]
    if isinstance(z, dict):
        values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        return values.reshape([int(n) for n in str(z["shape"]).split(",")])
    return np.array(z, dtype=float)
