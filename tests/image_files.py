"""Image files of every kind the Vision page must take or refuse, built in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 60, height: int = 40) -> Image.Image:
    """A colourful test card: left half red, right half blue, green stripe on top."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2, 0] = 220
    pixels[:, width // 2 :, 2] = 220
    pixels[: height // 4, :, 1] = 200
    return Image.fromarray(pixels)


def animated_gif() -> bytes:
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT), photo().convert("L").convert("RGB")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def rotated_jpeg() -> bytes:
    """Stored landscape 60x40 with EXIF orientation 6: shown upright it is portrait 40x60."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo(), "JPEG", exif=exif)


def sixteen_bit_png() -> bytes:
    ramp = (np.linspace(0, 65535, 60)[None].repeat(40, 0)).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def decompression_bomb() -> bytes:
    """A 10,000 x 10,000 PNG of zeros: a few hundred kB on disk, 100 megapixels decoded."""
    return encode(Image.new("1", (10_000, 10_000)), "PNG")


def _noise_png() -> bytes:
    """Noise does not compress: cutting the file really cuts the pixel data."""
    return encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "PNG")


GOOD = {
    "photo.jpg": lambda: encode(photo(), "JPEG"),
    "photo.webp": lambda: encode(photo(), "WEBP"),
    "photo.bmp": lambda: encode(photo(), "BMP"),
    "photo.tiff": lambda: encode(photo(), "TIFF"),
    "cmyk.jpg": lambda: encode(photo().convert("CMYK"), "JPEG"),
    "rgba.png": lambda: encode(photo().convert("RGBA"), "PNG"),
    "grey.png": lambda: encode(photo().convert("L"), "PNG"),
    "palette.gif": lambda: encode(photo().convert("P"), "GIF"),
    "sixteen.png": sixteen_bit_png,
    "animated.gif": animated_gif,
    "rotated.jpg": rotated_jpeg,
}
BAD = {
    "truncated.png": (lambda: _noise_png()[:2000], "damaged or truncated"),
    "not-an-image.png": (lambda: b"%PDF-1.4 this is not a picture\n" * 20, "not an image"),
    "empty.png": (lambda: b"", "empty"),
    "bomb.png": (decompression_bomb, "decompression bomb"),
    "sliver.png": (lambda: encode(Image.new("RGB", (4000, 20)), "PNG"), "more than 16:1"),
}
