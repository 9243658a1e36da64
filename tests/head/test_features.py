"""models.head.features: where the patch tokens start, with and without register tokens."""

import pytest
import torch
import transformers as tf
from PIL import Image

from models.head.features import backbone_tokens, input_size, token_grid
from models.loading import LoadedModel


def _tiny_dinov2(registers: int) -> LoadedModel:
    body = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, mlp_ratio=2)
    model = (tf.Dinov2WithRegistersModel(tf.Dinov2WithRegistersConfig(num_register_tokens=registers, **body))
             if registers else tf.Dinov2Model(tf.Dinov2Config(**body))).eval()
    processor = tf.BitImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return LoadedModel("tiny", "tiny", model, processor, "vision", False, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize(("registers", "first_patch"), [(0, 1), (4, 5)])
def test_token_grid_puts_the_patches_after_cls_and_registers(registers, first_patch):
    loaded = _tiny_dinov2(registers)
    side = input_size(loaded)
    tokens = backbone_tokens(loaded, [Image.new("RGB", (side, side), (90, 30, 200))])
    assert tokens.shape[1] == first_patch + 16  # a 4 × 4 grid of 8-px patches
    assert token_grid(loaded, tokens) == (first_patch, 4, 4)
