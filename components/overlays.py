"""Maps on the patch grid drawn over the photo the model saw: per-head focus, and a patch picker."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.colors as px_colors
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

COLORMAPS = ("Inferno", "Viridis", "Magma", "Jet", "Hot", "Greys")


def _colorscale(name: str) -> list[list]:
    """A named colorscale with rgb() stops: plotly.js draws Inferno's and Magma's first stop, "#000004", pale."""
    stops = px_colors.get_colorscale(name)
    return [[position, color if color.startswith("rgb") else "rgb({}, {}, {})".format(*px_colors.hex_to_rgb(color))]
            for position, color in stops]


def _data_uri(pixels: np.ndarray) -> str:
    """The photo as an inline JPEG (small, and never fetched from anywhere)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _cell_size(pixels: np.ndarray, rows: int, cols: int) -> tuple[float, float]:
    height, width = pixels.shape[:2]
    return height / rows, width / cols


def focus_overlays(
    pixels: np.ndarray | Sequence[np.ndarray],
    maps: np.ndarray,
    titles: Sequence[str],
    *,
    opacity: float = 0.6,
    colorscale: str = "Inferno",
    columns: int = 4,
    zmax: float | None = None,
    value_name: str = "attention",
    marker: tuple[int, int] | None = None,
    hover_cells: bool = True,
    width: int = 1000,
) -> go.Figure:
    """(K, rows, cols) maps over the (H, W, 3) photo, one panel each, on one shared colour scale (0..zmax).

    `pixels` may also be K photos of one size, one per panel (search results, each with its own map).

    `marker`: a (row, col) patch outlined in every panel (the query of a patch view).
    `hover_cells`: name the patch under the pointer (off for per-pixel maps, where it would be large).
    `width`: about how wide the figure will be drawn (px): the height follows, so panels fill it without blank bands.
    """
    count, rows, cols = maps.shape
    photos = [pixels] * count if isinstance(pixels, np.ndarray) and pixels.ndim == 3 else list(pixels)
    if len(photos) != count or len({photo.shape for photo in photos}) != 1:
        raise ValueError("one photo, or one photo per map, all of one size")
    grid_rows = -(-count // columns)
    cell_h, cell_w = _cell_size(photos[0], rows, cols)
    photo_height, photo_width = photos[0].shape[:2]
    uris = {id(photo): _data_uri(photo) for photo in photos}  # the same photo is encoded once
    fig = make_subplots(grid_rows, min(columns, count), subplot_titles=[html.escape(t) for t in titles],
                        horizontal_spacing=0.02, vertical_spacing=0.06)
    top = float(np.nanmax(maps)) if zmax is None else zmax
    for index, focus in enumerate(maps):
        r, c = divmod(index, columns)
        fig.add_trace(go.Image(source=uris[id(photos[index])], hoverinfo="skip"), row=r + 1, col=c + 1)
        fig.add_trace(
            go.Heatmap(
                z=focus, x0=cell_w / 2, dx=cell_w, y0=cell_h / 2, dy=cell_h, opacity=opacity,
                colorscale=_colorscale(colorscale), zmin=0, zmax=top or 1.0, showscale=index == 0,
                colorbar=dict(title=html.escape(value_name), thickness=12),
                customdata=np.indices((rows, cols)).transpose(1, 2, 0) if hover_cells else None,
                hovertemplate=("patch row %{customdata[0]}, col %{customdata[1]}<br>" if hover_cells else "")
                + f"{html.escape(value_name)} %{{z:.4f}}<extra></extra>",
            ),
            row=r + 1, col=c + 1,
        )
        if marker is not None:
            y, x = marker[0] * cell_h, marker[1] * cell_w
            fig.add_shape(type="rect", x0=x, x1=x + cell_w, y0=y, y1=y + cell_h, row=r + 1, col=c + 1,
                          line=dict(color="#00e5ff", width=2))
    fig.update_xaxes(visible=False, range=[0, photo_width], constrain="domain")
    fig.update_yaxes(visible=False, range=[photo_height, 0], scaleanchor="x", constrain="domain")
    for axis in range(2, count + 1):  # keep every panel's aspect ratio
        fig.layout[f"yaxis{axis}"].scaleanchor = f"x{axis}"
    panel = width / min(columns, count) * photo_height / photo_width
    fig.update_layout(
        height=int(min(1800, 60 + grid_rows * (panel + 40))), margin=dict(l=5, r=5, t=40, b=5),
    )
    return fig


def patch_picker(pixels: np.ndarray, rows: int, cols: int, selected: tuple[int, int]) -> go.Figure:
    """The photo with its patch grid; clicking a patch selects it (one invisible point per patch centre)."""
    cell_h, cell_w = _cell_size(pixels, rows, cols)
    height, width = pixels.shape[:2]
    r, c = np.indices((rows, cols)).reshape(2, -1)
    fig = go.Figure(go.Image(source=_data_uri(pixels), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=(c + 0.5) * cell_w, y=(r + 0.5) * cell_h, mode="markers",
        marker=dict(size=max(6, min(cell_w, cell_h) * 0.9), color="rgba(0,0,0,0)", symbol="square"),
        customdata=np.stack([r, c], 1), hovertemplate="patch row %{customdata[0]}, col %{customdata[1]}<extra></extra>",
        selected=dict(marker=dict(color="rgba(0,229,255,0.35)")), unselected=dict(marker=dict(opacity=1)),
    ))
    for i in range(1, rows):
        fig.add_shape(type="line", x0=0, x1=width, y0=i * cell_h, y1=i * cell_h,
                      line=dict(color="rgba(255,255,255,0.35)", width=1))
    for j in range(1, cols):
        fig.add_shape(type="line", y0=0, y1=height, x0=j * cell_w, x1=j * cell_w,
                      line=dict(color="rgba(255,255,255,0.35)", width=1))
    y, x = selected[0] * cell_h, selected[1] * cell_w
    fig.add_shape(type="rect", x0=x, x1=x + cell_w, y0=y, y1=y + cell_h, line=dict(color="#00e5ff", width=3))
    fig.update_xaxes(visible=False, range=[0, width], constrain="domain")
    fig.update_yaxes(visible=False, range=[height, 0], scaleanchor="x", constrain="domain")
    fig.update_layout(height=420, margin=dict(l=5, r=5, t=5, b=5), clickmode="event+select", dragmode=False,
                      showlegend=False)
    return fig
