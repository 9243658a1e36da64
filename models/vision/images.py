"""Photos in, RGB out: every format Pillow reads, oriented, flattened, 8-bit; bad files become messages.

The order matters: the pixel count is checked from the header before anything is decoded (so a
decompression bomb costs nothing), EXIF orientation is applied before the image is used, and
colour modes are converted on purpose rather than left to ``convert("RGB")`` defaults.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # 50 megapixels: any photo; a 10k x 10k bomb is refused before decoding
MAX_ASPECT = 16  # wider than 16:1 and the processors' resize (shortest side -> 224) explodes
FORMATS = ("JPEG", "PNG", "WebP", "BMP", "GIF", "TIFF")


class ImageInputError(ValueError):
    """The file cannot be used as a photo; the message says why, for the user."""


@dataclass(frozen=True)
class Photo:
    """An RGB image ready for a processor, and what was done to get it."""

    image: Image.Image  # mode "RGB", 8 bits per channel, upright
    notes: tuple[str, ...]  # e.g. "Animated GIF: the first of 12 frames is shown."
    source_mode: str
    source_format: str | None


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale -> 8-bit L, scaled by the mode's range (not stretched)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        values = values / 65535.0
    elif image.mode == "I":  # 32-bit container: 16-bit PNGs often land here
        values = values / (65535.0 if values.max(initial=0) > 255 else 255.0)
    else:  # "F": floats; 0..1 if they fit, else their own range
        low, high = float(values.min(initial=0)), float(values.max(initial=1))
        values = values if (low >= 0 and high <= 1) else (values - low) / ((high - low) or 1.0)
    return Image.fromarray(np.clip(np.rint(values * 255), 0, 255).astype(np.uint8), mode="L")


def _to_rgb(image: Image.Image) -> tuple[Image.Image, list[str]]:
    notes = []
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = _to_8bit(image)
        notes.append(f"{'Float' if mode == 'F' else 'High bit-depth'} image ({mode}) scaled to 8 bits per channel.")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notes.append("Transparent areas are shown on white.")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB.")
    if mode in ("1", "L", "LA", "La") or image.mode in ("1", "L"):
        notes.append("Greyscale image: the model sees it as grey RGB.")
    return image.convert("RGB"), notes


def open_photo(data: bytes, max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode `data` into an upright RGB photo, or raise ImageInputError with a sentence for the user."""
    if not data:
        raise ImageInputError("The file is empty.")
    try:
        # our own pixel limit is lower than Pillow's, so its warning adds nothing; the header only is read here
        with warnings.catch_warnings(action="ignore", category=Image.DecompressionBombWarning), \
                Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageInputError(
                    f"The image is {width} × {height} = {width * height / 1e6:.0f} megapixels; the limit is "
                    f"{max_pixels / 1e6:.0f}. Files like this can be decompression bombs, so it was not decoded."
                )
            if max(width, height) > MAX_ASPECT * min(width, height):
                raise ImageInputError(
                    f"The image is {width} × {height}: more than {MAX_ASPECT}:1. Crop it to a less extreme shape."
                )
            notes = []
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                image.seek(0)
                notes.append(f"Animated or multi-page {image.format}: the first of {frames} frames is shown.")
            image.load()  # decodes now: a truncated file fails here
            source_mode, source_format = image.mode, image.format
            upright = ImageOps.exif_transpose(image)
            if upright is not image and image.getexif().get(0x0112, 1) != 1:
                notes.append("Rotated upright from the photo's EXIF orientation.")
            rgb, converted = _to_rgb(upright)
    except ImageInputError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageInputError(f"The image is too large to decode safely ({error}).") from error
    except UnidentifiedImageError as error:
        raise ImageInputError(
            f"This file is not an image that can be read here (supported: {', '.join(FORMATS)})."
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageInputError(f"The image file is damaged or truncated and cannot be decoded ({error}).") from error
    return Photo(rgb, tuple(notes + converted), source_mode, source_format)
