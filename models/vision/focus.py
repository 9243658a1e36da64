"""Where a vision model looks: pooling focus per head, any patch's attention, rollout, agreement.

Maps are returned on the patch grid, (rows, cols) per head: CLS, register and padding tokens are
never drawn as patches. "Pooling" is what turns the patches into the image embedding: the CLS
token's last-layer attention (ViT, DINOv2, CLIP) or the probe of an attention-pooling head
(SigLIP, SigLIP 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from models.engine.capture import AttentionCapture

HeadFusion = Literal["mean", "max", "min"]
_FUSIONS = {"mean": lambda w: w.mean(0), "max": lambda w: w.amax(0), "min": lambda w: w.amin(0)}


def _on_grid(capture: AttentionCapture, rows_over_tokens: torch.Tensor) -> torch.Tensor:
    """(..., T) attention over all tokens -> (..., rows, cols) over the patches only."""
    grid = capture.grid
    return rows_over_tokens[..., grid.patches].reshape(*rows_over_tokens.shape[:-1], grid.rows, grid.cols)


def pooling_source(capture: AttentionCapture) -> str:
    """Which attention pools the image: a pooling head's probe, or the CLS token of the last layer."""
    if capture.pooling is not None:
        return "the attention-pooling head's probe"
    if capture.grid.cls_tokens:
        return "the CLS token in the last layer"
    raise ValueError("this model has neither a CLS token nor a pooling head: nothing pools its patches")


def pooling_focus(capture: AttentionCapture) -> torch.Tensor:
    """(H, rows, cols): the share of each head's pooling attention that lands on each patch."""
    pooling_source(capture)
    if capture.pooling is not None:
        return _on_grid(capture, capture.pooling.weights[:, 0])  # probe query (H, 1, T)
    return _on_grid(capture, capture.layers[-1].weights[:, 0])  # CLS query row (H, T)


def patch_focus(capture: AttentionCapture, layer: int, query: int) -> torch.Tensor:
    """(H, rows, cols): what patch number `query` (row-major on the grid) attends to in `layer`."""
    token = capture.grid.first_patch + query
    return _on_grid(capture, capture.layers[layer].weights[:, token])


def attention_rollout(
    weights: Sequence[torch.Tensor], head_fusion: HeadFusion = "mean", discard_ratio: float = 0.0
) -> torch.Tensor:
    """Abnar & Zuidema's rollout: fuse heads, drop the weakest links, add the residual, multiply the layers.

    weights: per layer (H, T, T). Per layer A' = rownorm(0.5 A + 0.5 I); result = A'_L ... A'_1, (T, T).
    `discard_ratio` zeroes that share of each layer's smallest fused weights (never a token's link to itself).
    """
    tokens = weights[0].shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64)
    result = eye.clone()
    for layer_weights in weights:
        fused = _FUSIONS[head_fusion](layer_weights.double())  # (H, T, T) -> (T, T)
        if discard_ratio > 0:
            flat = fused.flatten().clone()
            weakest = flat.topk(int(flat.numel() * discard_ratio), largest=False).indices
            weakest = weakest[weakest % (tokens + 1) != 0]  # keep the diagonal
            flat[weakest] = 0
            fused = flat.view(tokens, tokens)
        step = 0.5 * fused + 0.5 * eye
        step = step / step.sum(dim=-1, keepdim=True)
        result = step @ result
    return result.float()


def rollout_focus(capture: AttentionCapture, head_fusion: HeadFusion = "mean", discard_ratio: float = 0.0
                  ) -> torch.Tensor:
    """(rows, cols): rollout seen from what pools the image (the CLS row, or the pooling probe through it)."""
    rollout = attention_rollout([layer.weights for layer in capture.layers], head_fusion, discard_ratio)
    if capture.pooling is not None:
        probe = capture.pooling.weights[:, 0].mean(0)  # (T,) the heads' average probe
        return _on_grid(capture, probe @ rollout)
    pooling_source(capture)
    return _on_grid(capture, rollout[0])


def top_share(focus: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """Share of each map's total mass held by its top `fraction` of patches: (K,) for (K, rows, cols)."""
    flat = focus.flatten(-2).double()
    k = max(1, round(flat.shape[-1] * fraction))
    return (flat.topk(k, dim=-1).values.sum(-1) / flat.sum(-1)).float()


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share their mean rank), as Spearman's rho needs."""
    order = x.argsort()
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[order] = torch.arange(x.numel(), dtype=torch.float64)
    for value in x.unique():  # few ties in attention maps; exact for the ones there are
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def agreement(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, top: float = 0.2) -> tuple[float, float]:
    """How much two maps on the same grid agree: (Spearman rank correlation, IoU of their top `top` patches)."""
    x, y = torch.as_tensor(a).flatten().double(), torch.as_tensor(b).flatten().double()
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    rho = (rx @ ry / (rx.norm() * ry.norm())).item() if rx.norm() > 0 and ry.norm() > 0 else 0.0
    k = max(1, round(x.numel() * top))
    top_x, top_y = set(x.topk(k).indices.tolist()), set(y.topk(k).indices.tolist())
    return rho, len(top_x & top_y) / len(top_x | top_y)
