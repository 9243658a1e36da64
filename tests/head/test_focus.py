"""models.head.focus: pooling weight carried back to patches loses nothing; read_photo on a real capture."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from models.engine.capture import capture_image
from models.head.focus import head_focus, kept_mask, read_photo
from models.head.head import AttentionHead, HeadConfig


@pytest.mark.parametrize("anchored", [True, False])
def test_focus_keeps_every_bit_of_weight_that_lands_on_patches(anchored):
    torch.manual_seed(0)
    head = AttentionHead(HeadConfig(dim=32, keep=8, heads=4, sizes=(16,), anchor=anchored))
    out = head(torch.randn(2, 5 * 6, 32))  # a 5 x 6 grid and no CLS: every token is a patch
    focus = head_focus(out, 1, 0, 5, 6, anchored)
    assert focus.shape == (4, 5, 6) and (focus >= 0).all()
    on_tokens = out.pooling[1, :, :-1] if anchored else out.pooling[1]  # (H, M): all but the anchor
    torch.testing.assert_close(focus.flatten(1).sum(1), on_tokens.sum(1))
    assert kept_mask(out, 1, 0, 5, 6).sum() == 7
    with_cls = head_focus(head(torch.randn(2, 1 + 5 * 6, 32)), 0, 1, 5, 6, anchored)  # CLS is not on the photo
    assert with_cls.shape == (4, 5, 6)


@pytest.mark.packs
def test_read_photo_on_a_real_dinov2_capture(dinov2):
    capture = capture_image(dinov2, Image.new("RGB", (300, 200), (120, 60, 30)))
    head = AttentionHead(HeadConfig(dim=384, keep=64, heads=6, sizes=(32, 64)))
    head.anchor.fill(capture.hidden.mean(0))
    reading = read_photo(head, capture)
    assert reading.focus.shape == (6, 16, 16) and reading.kept.shape == (16, 16)
    assert reading.anchor_share.shape == (6,) and reading.entropy_bits.shape == (6,)
    assert int(reading.kept.sum()) + reading.kept_special == 63
    with pytest.raises(ValueError, match="the head reads 48-wide tokens"):
        read_photo(AttentionHead(HeadConfig(dim=48, keep=8, heads=4, sizes=(16,))), capture)
