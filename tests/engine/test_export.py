"""models.engine.export: the .npz holds the capture exactly, in the documented layout."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from models.engine.capture import capture_image, capture_text
from models.engine.export import FORMAT, capture_npz, npz_size


def _load(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # plain arrays only: no pickles
        return dict(npz)


def test_text_capture_round_trips(smollm2):
    capture = capture_text(smollm2, "Attention is all you need, they said.")
    data = capture_npz(capture)
    arrays = _load(data)
    layers, heads, t = capture.num_layers, capture.num_heads, capture.seq_len
    assert str(arrays["format"]) == FORMAT and str(arrays["model"]) == "pack:smollm2-135m"
    assert arrays["weights"].shape == arrays["scores"].shape == (layers, heads, t, t)
    assert arrays["allowed"].shape == (layers, t, t) and not arrays["allowed"][0, 0, 1]  # causal
    assert arrays["query"].shape == (layers, heads, t, 64) and arrays["key"].shape == (layers, 3, t, 64)
    assert int(arrays["kv_heads"]) == 3 and bool(arrays["causal"])
    assert list(arrays["tokens"]) == list(capture.tokens) and len(arrays["layer_names"]) == layers
    np.testing.assert_array_equal(arrays["weights"][4, 2], capture.layers[4].weights[2].numpy())
    np.testing.assert_array_equal(arrays["scores"][1], capture.layers[1].scores.numpy())
    assert abs(len(data) - npz_size(capture)) < 0.05 * len(data)


def test_sentence_pair_keeps_segments(minilm):
    arrays = _load(capture_npz(capture_text(minilm, "First part.", "Second part.")))
    assert set(arrays["segments"].tolist()) == {0, 1} and arrays["special"].sum() == 3
    assert arrays["allowed"].all()  # an encoder attends everywhere


def test_image_capture_keeps_its_grid(dinov2):
    image = Image.fromarray(np.full((48, 64, 3), 120, np.uint8))
    capture = capture_image(dinov2, image)
    arrays = _load(capture_npz(capture))
    g = capture.grid
    assert arrays["grid"].tolist() == [g.rows, g.cols, g.cls_tokens, g.registers, g.padding]
    assert "tokens" not in arrays
    assert torch.equal(torch.from_numpy(arrays["weights"][0]), capture.layers[0].weights)


def test_past_the_map_limit_the_file_holds_what_computes_every_map(smollm2, monkeypatch):
    from models.engine import export

    capture = capture_text(smollm2, "Attention is all you need, they said.")
    whole = _load(capture_npz(capture))
    monkeypatch.setattr(export, "MAX_MAP_BYTES", export.maps_bytes(capture) - 1)  # as a long input would be
    arrays = _load(capture_npz(capture))
    assert "weights" not in arrays and "scores" not in arrays and bool(arrays["maps_omitted"])
    assert abs(npz_size(capture) - len(capture_npz(capture))) < 0.05 * len(capture_npz(capture))
    # the README's recipe: softmax(query · keyᵀ · scaling, where allowed), key heads shared by query groups
    key = np.repeat(arrays["key"], arrays["query"].shape[1] // arrays["key"].shape[1], axis=1)
    logits = np.einsum("lhqd,lhkd->lhqk", arrays["query"], key) * arrays["scaling"][:, None, None, None]
    logits = np.where(arrays["allowed"][:, None], logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, whole["weights"], atol=1e-5)
