"""models.head.features: where the patch tokens start, with and without register tokens."""

import pytest
from PIL import Image

from models.head.features import backbone_tokens, input_size, token_grid
from tests.tiny_models import dinov2_with_registers, families


@pytest.mark.parametrize(("registers", "first_patch"), [(0, 1), (4, 5)])
def test_token_grid_puts_the_patches_after_cls_and_registers(registers, first_patch):
    loaded = (dinov2_with_registers(registers) if registers else families()["dinov2"]).loaded()
    side = input_size(loaded)
    tokens = backbone_tokens(loaded, [Image.new("RGB", (side, side), (90, 30, 200))])
    assert tokens.shape[1] == first_patch + 16  # a 4 × 4 grid of 8-px patches
    assert token_grid(loaded, tokens) == (first_patch, 4, 4)
