"""models.vision.images: every format and colour mode becomes an upright 8-bit RGB photo; bad files, a message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFile

from models.vision.images import ImageInputError, open_photo
from tests.image_files import BAD, GOOD, encode, photo


@pytest.mark.parametrize("name", list(GOOD))
def test_every_kind_of_photo_becomes_rgb(name):
    result = open_photo(GOOD[name]())
    assert result.image.mode == "RGB"
    assert result.image.size == ((40, 60) if name == "rotated.jpg" else (60, 40))


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_give_their_own_sentence(name):
    make, message = BAD[name]
    with pytest.raises(ImageInputError, match=message):
        open_photo(make())


def test_exif_orientation_is_applied_first():
    result = open_photo(GOOD["rotated.jpg"]())
    upright = np.asarray(result.image)
    # orientation 6 = rotate 90° clockwise to view: the green top stripe becomes the right edge
    assert upright[:, -3:, 1].mean() > 150 and upright[:, :3, 1].mean() < 80
    assert any("EXIF" in note for note in result.notes)


def test_animated_gif_uses_the_first_frame_and_says_so():
    result = open_photo(GOOD["animated.gif"]())
    assert np.asarray(result.image)[20, 5, 0] > 150  # frame 0: red on the left
    assert any("first of 3 frames" in note for note in result.notes)


def test_sixteen_bit_is_scaled_not_clipped():
    values = np.asarray(open_photo(GOOD["sixteen.png"]()).image)[..., 0]
    assert values[0, 0] == 0 and values[0, -1] == 255 and 100 < values[0, 30] < 155


def test_transparency_is_flattened_on_white():
    rgba = photo().convert("RGBA")
    rgba.putalpha(0)
    result = open_photo(encode(rgba, "PNG"))
    assert np.asarray(result.image).min() == 255 and any("white" in note for note in result.notes)


def test_cmyk_keeps_its_colours():
    pixels = np.asarray(open_photo(GOOD["cmyk.jpg"]()).image).astype(int)
    assert pixels[30, 5, 0] > 150 and pixels[30, 55, 2] > 150  # red stays red, blue stays blue


def test_the_pixel_limit_is_checked_before_decoding(monkeypatch):
    bomb = BAD["bomb.png"][0]()
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1))
    with pytest.raises(ImageInputError):
        open_photo(bomb)
    assert decoded == []
    with pytest.raises(Exception):  # noqa: B017 - the spy decodes nothing, so what follows fails somehow
        open_photo(GOOD["photo.jpg"]())
    assert decoded  # ...but the spy does see a normal file being decoded
