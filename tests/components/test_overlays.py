"""components.overlays: panels share one photo or take one each, and the height follows the drawn width."""

import numpy as np
import pytest

from components.overlays import focus_overlays

PHOTO = np.zeros((28, 56, 3), dtype=np.uint8)  # twice as wide as tall: a 2 × 4 grid of 14-px patches


def test_the_height_follows_the_width_the_figure_is_drawn_at():
    maps = np.random.default_rng(0).random((1, 2, 4))
    full, half = (focus_overlays(PHOTO, maps, ["m"], columns=1, width=w).layout.height for w in (1000, 500))
    assert (full, half) == (60 + 1000 // 2 + 40, 60 + 500 // 2 + 40)  # one panel, half as tall as wide


def test_one_photo_per_panel_is_encoded_once_each_and_must_match_in_size():
    maps = np.ones((3, 2, 4))
    shared = focus_overlays(PHOTO, maps, ["a", "b", "c"])
    own = focus_overlays([PHOTO, PHOTO + 1, PHOTO + 2], maps, ["a", "b", "c"])
    sources = [trace.source for trace in shared.data if trace.type == "image"]
    assert len(sources) == 3 and len(set(sources)) == 1
    assert len({trace.source for trace in own.data if trace.type == "image"}) == 3
    with pytest.raises(ValueError, match="one photo per map"):
        focus_overlays([PHOTO, PHOTO[:14]], np.ones((2, 2, 4)), ["a", "b"])
