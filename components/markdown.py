"""User text inside Streamlit markdown: shown literally, never as formatting or links."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: str) -> str:
    """Backslash every character markdown (and Streamlit's extensions: $math$, :emoji:) could read."""
    return _SPECIAL.sub(r"\\\1", text.replace("\n", " "))
