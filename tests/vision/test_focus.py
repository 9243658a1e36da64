"""models.vision.focus: maps land on the exact patch grid of every family; rollout by hand; the pack looks somewhere."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image

from models.engine.capture import AttentionCapture, PatchGrid, capture_image, patch_grid
from models.engine.loading import LoadedModel
from models.engine.recording import LayerAttention, recording
from models.vision.focus import agreement, attention_rollout, patch_focus, pooling_focus, rollout_focus, top_share
from tests.tiny_models import families
from tests.tolerance import assert_close32

PHOTO = Image.open("assets/photos/astronaut.png")
VISION = ["vit", "dinov2", "clip", "siglip", "siglip2"]


def _tiny_capture(name: str) -> AttentionCapture:
    family = families()[name]
    loaded, inputs = family.loaded(), family.inputs()
    with torch.inference_mode(), recording(loaded.model) as rec:
        loaded.model(**inputs)
    grid = patch_grid(loaded, inputs, rec.layers[0].weights.shape[-1])
    return AttentionCapture(name, tuple(rec.layers), rec.pooling[-1] if rec.pooling else None, grid=grid)


@pytest.mark.parametrize(
    ("name", "rows", "cols", "first_patch", "padding"),
    [("vit", 4, 4, 1, 0), ("dinov2", 4, 6, 1, 0), ("clip", 4, 4, 1, 0), ("siglip", 4, 4, 0, 0),
     ("siglip2", 3, 4, 0, 4)],
)
def test_focus_maps_cover_exactly_the_patches(name, rows, cols, first_patch, padding):
    capture = _tiny_capture(name)
    grid = capture.grid
    assert (grid.rows, grid.cols, grid.first_patch, grid.padding) == (rows, cols, first_patch, padding)
    heads = capture.num_heads
    focus = pooling_focus(capture)
    assert focus.shape == (heads, rows, cols)
    # the map is the pooling row itself, patch for patch: nothing from CLS, registers or padding
    source = capture.pooling.weights[:, 0] if capture.pooling is not None else capture.layers[-1].weights[:, 0]
    torch.testing.assert_close(focus.flatten(1), source[:, first_patch : first_patch + rows * cols])
    if padding:  # NaFlex padding is masked: no attention reaches it, and it is not drawn
        assert source[:, rows * cols :].abs().max() == 0
    assert patch_focus(capture, 0, rows * cols - 1).shape == (heads, rows, cols)
    assert rollout_focus(capture).shape == (rows, cols)


def test_rollout_equals_the_hand_computation_on_two_layers():
    a1 = torch.softmax(torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(0)), -1)
    a2 = torch.softmax(torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(1)), -1)
    eye = torch.eye(3, dtype=torch.float64)

    def step(a):
        m = 0.5 * a.double().mean(0) + 0.5 * eye
        return m / m.sum(-1, keepdim=True)

    assert_close32(attention_rollout([a1, a2]), step(a2) @ step(a1), scale=1.0, terms=a1.shape[-1])
    # max fusion and discarding: the weakest links go, the diagonal stays
    fused = a1.double().amax(0)
    kept = fused.clone()
    kept[fused <= fused.flatten().kthvalue(4).values] = 0
    kept.fill_diagonal_(0)
    kept += torch.diag(fused.diagonal())
    expected = 0.5 * kept + 0.5 * eye
    assert_close32(attention_rollout([a1], "max", 4 / 9), expected / expected.sum(-1, keepdim=True), scale=1.0,
                   terms=a1.shape[-1])


def test_rows_of_the_rollout_sum_to_one():
    weights = [torch.softmax(torch.randn(4, 7, 7), -1) for _ in range(3)]
    for fusion in ("mean", "max", "min"):
        rolled = attention_rollout(weights, fusion, 0.5)
        torch.testing.assert_close(rolled.sum(-1), torch.ones(7))


def test_the_dinov2_pack_looks_at_things_and_a_random_copy_does_not(dinov2):
    trained = top_share(pooling_focus(capture_image(dinov2, PHOTO)))
    assert (trained > 0.25).sum() >= 4  # uniform would be 0.10

    torch.manual_seed(0)
    random_model = type(dinov2.model)._from_config(copy.deepcopy(dinov2.model.config)).eval()
    random_model.config._attn_implementation = dinov2.model.config._attn_implementation
    shuffled = LoadedModel("random", "random", random_model, dinov2.processor, "vision", False,
                           torch.device("cpu"), torch.float32)
    untrained = top_share(pooling_focus(capture_image(shuffled, PHOTO)))
    assert (untrained < 0.15).all()


def test_agreement_of_a_map_with_itself_and_with_its_opposite():
    a = torch.rand(8, 8)
    assert agreement(a, a) == pytest.approx((1.0, 1.0))
    rho, iou = agreement(a, -a)
    assert rho == pytest.approx(-1.0) and iou == 0.0


def test_grid_bookkeeping_with_registers():
    layer = LayerAttention("l", torch.softmax(torch.randn(2, 1 + 4 + 6, 1 + 4 + 6), -1), torch.zeros(2, 11, 11), None)
    capture = AttentionCapture("m", (layer,), grid=PatchGrid(2, 3, cls_tokens=1, registers=4, padding=0))
    torch.testing.assert_close(pooling_focus(capture).flatten(1), layer.weights[:, 0, 5:])
