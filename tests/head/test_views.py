"""models.head.views: boxes stay inside the photo, views are the backbone's square, seeds repeat."""

from __future__ import annotations

import random

from PIL import Image

from models.head.views import augmented_view, item_image, random_box, random_items


def test_boxes_stay_inside_and_cover_about_the_asked_share():
    rng = random.Random(0)
    for _ in range(300):
        left, top, right, bottom = random_box(640, 427, rng, (0.08, 0.3))
        assert 0 <= left < right <= 640 and 0 <= top < bottom <= 427
        assert 0.04 <= (right - left) * (bottom - top) / (640 * 427) <= 0.36


def test_items_spread_over_the_photos_and_views_are_square_and_seeded():
    photos = [Image.effect_noise((120, 90), 50).convert("RGB"), Image.new("RGB", (60, 200), (10, 200, 30))]
    items = random_items(photos, 5, random.Random(1))
    assert [item.photo for item in items] == [0, 1, 0, 1, 0]
    assert item_image(photos, items[0], 48).size == (48, 48)
    a = augmented_view(photos, items[0], random.Random(7), 48)
    b = augmented_view(photos, items[0], random.Random(7), 48)
    assert a.size == (48, 48) and a.tobytes() == b.tobytes()
    assert a.tobytes() != augmented_view(photos, items[0], random.Random(8), 48).tobytes()
