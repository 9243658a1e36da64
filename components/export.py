"""How figures leave the page: plotly's own toolbar, set to download PNG or SVG, offline."""

from __future__ import annotations

import re
from typing import Any, Literal


def figure_config(file_stem: str, image_format: Literal["png", "svg"] = "png") -> dict[str, Any]:
    """Plotly config: the camera button downloads `file_stem`.png/.svg, rendered in the browser (no server)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", file_stem).strip("_") or "attention"
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": image_format, "filename": safe, "scale": 2 if image_format == "png" else 1},
        "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    }
