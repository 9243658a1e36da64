"""A capture as one `.npz` file: every array the app draws from, with the names that explain it.

Layout (format "attention-lens-capture/1"; L layers, H heads, H_kv key/value heads, T tokens, d head width):

    weights      float32 (L, H, T, T)   softmax(scores + mask); rows sum to 1 (less with sinks)
    scores       float32 (L, H, T, T)   q.k * scaling, soft-capped and plus any position bias (ALiBi,
                                        relative positions) as the model does, before the mask; absent for
                                        models that expose weights only (BLOOM, MPT, Falcon: output_attentions)
    sinks        float32 (L, H)         per-head sink logits (GPT-OSS), an extra softmax column; when present
    allowed      bool    (L, T, T)      True where a query may attend a key (all True for encoders)
    query        float32 (L, H, T, d)   per-head queries after rotary embeddings (when recorded)
    key, value   float32 (L, H_kv, T, d)
    scaling      float64 (L,)           the factor q.k was multiplied by
    layer_names  str     (L,)           module paths inside the model
    tokens       str     (T,)           text: token labels (␣ = leading space, ↵ = newline)
    special      bool    (T,)           text: the tokenizer's special tokens
    segments     int64   (T,)           text sentence pairs: 0 = first segment, 1 = second
    grid         int64   (5,)           images: rows, cols, CLS tokens, registers, padding
    pixels       uint8   (H, W, 3)      images: the photo as the model saw it (after resize and crop) tokens
    pooling_weights, pooling_scores float32 (H, 1, N)   SigLIP-style pooling head, when present
    model, format str ();  causal bool ();  dropped_tokens, kv_heads int64 ()

Past MAX_MAP_BYTES (a 2,048-token SmolLM2 capture's maps would be 9 GB) weights and scores are left out: every map
is softmax(query · key * scaling + bias, where allowed) of the arrays that are there, and `maps_omitted` says so.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import numpy as np
import torch

from models.engine.capture import AttentionCapture

FORMAT = "attention-lens-capture/1"
MAX_MAP_BYTES = 1 << 30  # weights and scores together, above which the file carries what computes them instead


def maps_bytes(capture: AttentionCapture) -> int:
    """Bytes the weights (and scores, when exposed) of every layer take as float32."""
    layer = capture.layers[0]
    tq, tk = layer.shape
    return capture.num_layers * layer.num_heads * tq * tk * 4 * (2 if capture.exposes_scores else 1)


def includes_maps(capture: AttentionCapture) -> bool:
    """Whether the file carries the maps themselves, or (at length) only what computes them."""
    return maps_bytes(capture) <= MAX_MAP_BYTES or capture.layers[0].query is None


def _stack(capture: AttentionCapture, field: Callable) -> np.ndarray:
    return torch.stack([field(layer) for layer in capture.layers]).numpy()


def capture_arrays(capture: AttentionCapture) -> dict[str, np.ndarray]:
    """The capture as named numpy arrays (the layout in this module's docstring)."""
    first = capture.layers[0]
    arrays = {
        "format": np.array(FORMAT),
        "model": np.array(capture.model_name),
        "causal": np.array(capture.causal),
        "dropped_tokens": np.array(capture.dropped_tokens),
        "kv_heads": np.array(capture.kv_heads or capture.num_heads),
        "layer_names": np.array([layer.name for layer in capture.layers]),
        "allowed": _stack(capture, lambda layer: layer.allowed),
        "scaling": np.array([layer.scaling or np.nan for layer in capture.layers], dtype=np.float64),
    }
    if includes_maps(capture):
        arrays["weights"] = _stack(capture, lambda layer: layer.weights.float())
        if capture.exposes_scores:
            arrays["scores"] = _stack(capture, lambda layer: layer.scores.float())
    else:
        arrays["maps_omitted"] = np.array(True)
        if capture.layers[0].bias is not None:
            arrays["bias"] = _stack(capture, lambda layer: layer.bias.float())
    if first.sink is not None:
        arrays["sinks"] = _stack(capture, lambda layer: layer.sink.float())
    if first.query is not None:
        for name in ("query", "key", "value"):
            arrays[name] = _stack(capture, lambda layer, n=name: getattr(layer, n).float())
    if capture.tokens is not None:
        arrays["tokens"] = np.array(capture.tokens)
    if capture.special is not None:
        arrays["special"] = np.array(capture.special)
    if capture.segments is not None:
        arrays["segments"] = np.array(capture.segments, dtype=np.int64)
    if capture.grid is not None:
        g = capture.grid
        arrays["grid"] = np.array([g.rows, g.cols, g.cls_tokens, g.registers, g.padding], dtype=np.int64)
    if capture.pooling is not None:
        arrays["pooling_weights"] = capture.pooling.weights.float().numpy()
        arrays["pooling_scores"] = capture.pooling.scores.float().numpy()
    if capture.pixels is not None:
        arrays["pixels"] = capture.pixels
    return arrays


def capture_npz(capture: AttentionCapture, extra: Mapping[str, np.ndarray] | None = None) -> bytes:
    """The capture (and `extra` named maps, e.g. a view's focus maps) as an uncompressed .npz."""
    buffer = io.BytesIO()
    np.savez(buffer, **capture_arrays(capture), **(extra or {}))
    return buffer.getvalue()


def npz_size(capture: AttentionCapture) -> int:
    """About how many bytes the .npz takes, from the shapes alone (for the download button's label)."""
    layer = capture.layers[0]
    vectors = sum(t.numel() for t in (layer.query, layer.key, layer.value) if t is not None) * 4 * capture.num_layers
    return vectors + (maps_bytes(capture) if includes_maps(capture) else 0)
