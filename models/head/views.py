"""Items and their augmented views: what the head learns to match and what retrieval is scored on.

An item is a random crop of a photo (a region). A view of an item is that region cropped again,
flipped and colour-jittered, then resized to the backbone's square input. Two views of one item are a
positive pair; other items, including other crops of the same photo, are negatives.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels


@dataclass(frozen=True)
class Item:
    photo: int  # index into the photo list
    box: Box


def random_box(width: int, height: int, rng: random.Random, area: tuple[float, float],
               aspect: tuple[float, float] = (3 / 4, 4 / 3)) -> Box:
    """A box covering `area` (share of the image) at a random aspect ratio, inside the image."""
    share = rng.uniform(*area)
    ratio = math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1])))
    w = min(width, max(8, round(math.sqrt(share * width * height * ratio))))
    h = min(height, max(8, round(math.sqrt(share * width * height / ratio))))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    return left, top, left + w, top + h


def random_items(photos: list[Image.Image], count: int, rng: random.Random,
                 area: tuple[float, float] = (0.08, 0.3)) -> list[Item]:
    """`count` crops spread evenly over the photos (photo i gets items i, i + len(photos), ...)."""
    return [Item(i % len(photos), random_box(*photos[i % len(photos)].size, rng, area)) for i in range(count)]


def item_image(photos: list[Image.Image], item: Item, size: int) -> Image.Image:
    """The item itself, unaugmented, as the backbone's square input: what an index stores."""
    return photos[item.photo].crop(item.box).resize((size, size), Image.Resampling.BICUBIC)


def augmented_view(photos: list[Image.Image], item: Item, rng: random.Random, size: int,
                   strength: float = 1.0) -> Image.Image:
    """A random view of the item: sub-crop (50-100 % of it), flip, brightness/contrast/saturation, blur."""
    region = photos[item.photo].crop(item.box)
    region = region.crop(random_box(*region.size, rng, (1 - 0.5 * strength, 1.0)))
    if rng.random() < 0.5:
        region = ImageOps.mirror(region)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        region = enhance(region).enhance(1 + rng.uniform(-0.4, 0.4) * strength)
    if rng.random() < 0.2 * strength:
        region = region.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    return region.resize((size, size), Image.Resampling.BICUBIC)
