"""Every family the loader accepts, walked once: saved to a folder, loaded as a user would, captured, drawn.

Weights equal transformers' eager output_attentions; softmax(scores + mask) equals the weights wherever
scores exist; every Text or Vision view renders through AppTest without an exception, and says plainly
what it cannot show for models that expose weights only.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.engine.capture import capture_image, capture_text
from models.engine.loading import load_model
from models.text.multihead import compare_heads
from tests.app.test_text import VIEWS as TEXT_VIEWS
from tests.app.test_vision import VIEWS as VISION_VIEWS
from tests.apptest import open_view, rerun, start_app
from tests.tiny_models import all_families
from tests.tolerance import assert_close32

FAMILIES = all_families()
SENTENCE = "The animal didn't cross the street because it was too tired."
WEIGHTS_ONLY = ("bloom", "mpt", "falcon_alibi")


def _photo() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8))


def _is_text(name: str) -> bool:
    return FAMILIES[name].processor is None


@pytest.fixture(scope="module")
def folders(tmp_path_factory, minilm):
    """Each family saved as from_pretrained reads it, text ones with MiniLM's tokenizer (30522 ids)."""
    root = tmp_path_factory.mktemp("families")
    return {name: family.save(root / name, tokenizer=minilm.processor if _is_text(name) else None)
            for name, family in FAMILIES.items()}


def _eager_attentions(loaded, folder) -> tuple[tuple[torch.Tensor, ...], dict]:
    """The same folder loaded with plain eager attention, run on the same input with output_attentions."""
    eager = type(loaded.model).from_pretrained(folder, attn_implementation="eager").eval()
    if loaded.modality == "text":
        inputs = dict(loaded.processor(SENTENCE, return_tensors="pt"))
    else:
        inputs = dict(loaded.processor(images=_photo(), return_tensors="pt"))
    with torch.inference_mode():
        return eager(**inputs, output_attentions=True).attentions, inputs


@pytest.mark.parametrize("name", list(FAMILIES))
def test_weights_equal_eager_and_scores_give_the_weights(name, folders):
    loaded = load_model(str(folders[name]))
    assert loaded.exposes_scores == (name not in WEIGHTS_ONLY)
    capture = capture_text(loaded, SENTENCE) if _is_text(name) else capture_image(loaded, _photo())
    expected, _ = _eager_attentions(loaded, folders[name])
    assert capture.num_layers == len(expected) == 2
    for layer, reference in zip(capture.layers, expected, strict=True):
        # a weight moves with rounding in its logit: scale by the largest score, d terms per q.k
        logit_scale = layer.scores.abs().max().item() if layer.exposes_scores else 1.0
        width = layer.query.shape[-1] if layer.query is not None else 8
        assert_close32(layer.weights, reference[0], scale=max(logit_scale, 1.0), terms=width)
        if layer.exposes_scores:
            assert_close32(layer.softmax(layer.scores), layer.weights, scale=max(logit_scale, 1.0), terms=width)
            assert layer.stored_weights is None and layer.stored_scores is None  # computed on demand, not held
            for head in range(layer.num_heads):  # one head alone is the same map (GQA, sinks, soft-capping, bias)
                assert_close32(layer.head_weights(head), reference[0, head], scale=max(logit_scale, 1.0),
                               terms=width)
            assert_close32(layer.head_weights(slice(1, 3)), reference[0, 1:3], scale=max(logit_scale, 1.0),
                           terms=width)
            tq, tk = layer.shape
            for rows in (slice(0, 3), slice(3, tq)):  # a map walked by rows: the same rows, 0 past their reach
                block = layer.head_rows(1, rows)[0]
                assert_close32(block, reference[0, 1, rows, : block.shape[1]], scale=max(logit_scale, 1.0),
                               terms=width)
                assert (reference[0, 1, rows, block.shape[1]:] == 0).all()
            every = layer.head_rows(slice(None), slice(2, tq))[0]  # every head's block at once
            assert_close32(every, reference[0, :, 2:, : every.shape[-1]], scale=max(logit_scale, 1.0), terms=width)
            assert_close32(layer.head_scores(rows=slice(2, 4)), layer.scores[:, 2:4], scale=max(logit_scale, 1.0),
                           terms=width)
        else:
            with pytest.raises(ValueError, match="only its attention weights"):
                _ = layer.scores
        picked = torch.tensor([layer.shape[0] - 1, 0, 2])  # rows by position, in any order
        for head in (1, slice(None)):
            assert_close32(layer.head_weights(head, picked), reference[0, head][..., picked, :],
                           scale=max(logit_scale, 1.0), terms=width)


def test_position_biases_are_in_the_scores(folders):
    """BEiT's relative position bias arrives in a float mask: dropping it changes the weights a lot."""
    loaded = load_model(str(folders["beit"]))
    layer = capture_image(loaded, _photo()).layers[0]
    assert layer.bias is not None and layer.bias.shape == layer.weights.shape
    without = layer.softmax(layer.scores - layer.bias)
    assert (without - layer.weights).abs().max() > 0.05


def test_sinks_take_part_of_every_row(folders):
    loaded = load_model(str(folders["gpt_oss"]))
    layer = capture_text(loaded, SENTENCE).layers[0]
    sums = layer.weights.sum(-1)  # (H, T)
    share = torch.softmax(torch.cat([layer.scores.masked_fill(~layer.allowed, float("-inf")),
                                     layer.sink[:, None, None].expand(-1, sums.shape[1], 1)], -1), -1)[..., -1]
    assert_close32(sums, 1 - share, scale=1.0, terms=sums.shape[1])
    assert (sums < 1).all()


@pytest.mark.parametrize("name", ["gpt2_inverse_layer", "gemma2"])
def test_the_single_head_equivalent_uses_the_layers_own_scaling(name, folders):
    loaded = load_model(str(folders[name]))
    capture = capture_text(loaded, SENTENCE)
    scalings = {layer.scaling for layer in capture.layers}
    head_dim = capture.layers[0].query.shape[-1]
    assert any(abs(s - head_dim**-0.5) > 1e-3 for s in scalings)  # not the textbook 1/sqrt(d) (GPT-2: layer 1 on)
    for layer in capture.layers:
        comparison = compare_heads(layer)
        if name == "gemma2":  # soft-capped: no single softmax of Q K^T exists, and it says so
            assert comparison.equivalence_error is None and "soft-caps" in comparison.not_one_softmax
        else:
            assert comparison.equivalence_error <= comparison.equivalence_tolerance


def _z(spec: dict) -> np.ndarray:
    """A plotly heatmap's z, decoded (plotly sends numpy arrays as base64 typed arrays)."""
    z = spec["data"][0]["z"]
    if isinstance(z, dict):
        rows, cols = (int(n) for n in z["shape"].split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(rows, cols)
    return np.array(z, dtype=np.float64)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_view_renders_in_the_app(name, folders):
    text = _is_text(name)
    app = start_app(None if text else "app_pages/vision.py")
    modality = "text" if text else "vision"
    app.sidebar.selectbox(key=f"model_choice_{modality}").set_value("Other: a hub id or a folder…")
    app.run()
    app.sidebar.text_input(key=f"model_custom_{modality}").set_value(str(folders[name]))
    rerun(app)
    assert not app.error and not app.sidebar.error, [e.value for e in app.error] + [e.value for e in app.sidebar.error]
    notes = " ".join(i.value for i in app.info)
    if name in WEIGHTS_ONLY:
        assert "output_attentions" in notes
    if name == "gpt_oss":
        assert "attention sink" in notes
    if text:
        app.selectbox(key="layer").set_value(1)  # GPT-2 scales its layer 1 by 1 / (2 sqrt(d))
        rerun(app)
    for view in TEXT_VIEWS if text else VISION_VIEWS:
        open_view(app, "text_view" if text else "vision_view", view)
        assert not app.error, [e.value for e in app.error]
        shown = " ".join(i.value for i in app.info) + " ".join(w.value for w in app.warning)
        needs_scores = view in ("Single vs multi-head", "Q·K·V walkthrough")
        if name in WEIGHTS_ONLY and needs_scores:
            assert "does not expose them" in shown and not app.get("plotly_chart")
        elif needs_scores:
            assert app.get("plotly_chart")
        if view == "Single vs multi-head" and name in ("gemma2", "gpt_oss"):
            assert "is not one head of this model" in shown
        if view == "Single vs multi-head" and name == "gpt2_inverse_layer":
            text_shown = " ".join(m.value for m in app.markdown)
            assert "does not scale by" in text_shown
            check = next(m.value for m in app.markdown if "recomputed from the layer's" in m.value)
            error, tolerance = (float(part) for part in check.split("`")[1::2])
            assert error <= tolerance
        if view == "Maps" and name in WEIGHTS_ONLY:  # the drawn map is eager's own weights (layer 1, head 0)
            loaded = load_model(str(folders[name]))
            expected, _ = _eager_attentions(loaded, folders[name])
            spec = next(s for s in (json.loads(c.proto.spec) for c in app.get("plotly_chart"))
                        if "layer 1 · head 0" in json.dumps(s, ensure_ascii=False))
            drawn = _z(spec)
            allowed = ~np.isnan(drawn)
            np.testing.assert_allclose(drawn[allowed], expected[1][0, 0].numpy()[allowed], rtol=1e-6, atol=1e-7)
            assert allowed.sum() == allowed.shape[0] * (allowed.shape[0] + 1) // 2  # causal: the lower triangle
