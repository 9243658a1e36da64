"""Multi-Token Attention (Golovneva et al., 2025): attention weights that see neighbouring queries, keys and heads.

Three blocks on top of ordinary attention, each a small module you can use on its own:

- key-query convolution: a (c_q, c_k) kernel per head slides over the (query, key) plane of the
  scores, so one weight can depend on several query and key tokens. Pre-softmax (default):
  Softmax(Mask_-inf(Conv2d(Mask_0(scores)))); post-softmax: Mask_0(Conv2d(Softmax(Mask_-inf(scores)))).
  Queries look only backwards (c_q - 1 zero rows on top); keys are padded left, right or both.
- head mixing: within groups of c_h heads, each map becomes a learned mix of the group's maps.
- group normalisation per head, scaled by (1 - lambda), lambda = 0.8 - 0.6 exp(-0.3 layer).

Every block starts at identity, so an untrained MTA layer is exactly standard attention.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

KeyPadding = Literal["both", "left", "right"]
QueryPadding = Literal["backward", "both"]


def _pads(c_q: int, c_k: int, query_padding: QueryPadding, key_padding: KeyPadding) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding of the (query, key) plane for F.pad."""
    if key_padding == "both" and c_k % 2 == 0:
        raise ValueError("keys padded on both sides need an odd c_k")
    if query_padding == "both" and c_q % 2 == 0:
        raise ValueError("queries padded on both sides need an odd c_q")
    left, right = {"both": ((c_k - 1) // 2,) * 2, "left": (c_k - 1, 0), "right": (0, c_k - 1)}[key_padding]
    top, bottom = (c_q - 1, 0) if query_padding == "backward" else ((c_q - 1) // 2,) * 2
    return left, right, top, bottom


def identity_kernel(heads: int, c_q: int, c_k: int, query_padding: QueryPadding = "backward",
                    key_padding: KeyPadding = "both") -> torch.Tensor:
    """(H, c_q, c_k) kernels that copy each score to the same place: MTA's initialisation."""
    left, _, top, _ = _pads(c_q, c_k, query_padding, key_padding)
    kernel = torch.zeros(heads, c_q, c_k)
    kernel[:, top, left] = 1.0  # the tap that lands on (query i, key j) itself
    return kernel


def key_query_convolution(
    scores: torch.Tensor,
    kernel: torch.Tensor,
    allowed: torch.Tensor | None,
    *,
    pre_softmax: bool = True,
    query_padding: QueryPadding = "backward",
    key_padding: KeyPadding = "both",
) -> torch.Tensor:
    """Attention weights from scores convolved per head over the (query, key) plane.

    scores: (B, H, Tq, Tk) scaled q.k; kernel: (H, c_q, c_k); allowed: (Tq, Tk) bool, True where a
    query may attend a key (None: everywhere) -> weights (B, H, Tq, Tk), rows sum to 1.
    """
    heads, c_q, c_k = kernel.shape
    pad = _pads(c_q, c_k, query_padding, key_padding)
    weight = kernel.to(scores)[:, None]  # (H, 1, c_q, c_k): one kernel per head (grouped conv)
    if pre_softmax:
        x = scores if allowed is None else scores.masked_fill(~allowed, 0.0)  # Mask_0
        x = F.conv2d(F.pad(x, pad), weight, groups=heads)  # (B, H, Tq, Tk)
        if allowed is not None:
            x = x.masked_fill(~allowed, float("-inf"))  # Mask_-inf
        return torch.softmax(x, dim=-1)
    x = scores if allowed is None else scores.masked_fill(~allowed, float("-inf"))
    x = F.conv2d(F.pad(torch.softmax(x, dim=-1), pad), weight, groups=heads)
    return x if allowed is None else x.masked_fill(~allowed, 0.0)


def head_mixing(maps: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """Mix heads within groups: maps (B, H, Tq, Tk), mixing (H / c_h, c_h, c_h) -> (B, H, Tq, Tk).

    Output head i of group g = sum_j mixing[g, i, j] * input head j of group g.
    """
    b, h, tq, tk = maps.shape
    groups, c_h, _ = mixing.shape
    grouped = maps.view(b, groups, c_h, tq, tk)  # (B, G, c_h, Tq, Tk)
    return torch.einsum("gij,bgjqk->bgiqk", mixing.to(maps), grouped).reshape(b, h, tq, tk)


def depth_scale(layer_index: int) -> float:
    """(1 - lambda) with lambda = 0.8 - 0.6 exp(-0.3 layer): how much of the normalised output is kept."""
    return 1.0 - (0.8 - 0.6 * math.exp(-0.3 * layer_index))


class HeadGroupNorm(nn.Module):
    """RMS normalisation of each head's output with a per-head gain, times the depth scale."""

    def __init__(self, heads: int, head_dim: int, layer_index: int, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(heads, head_dim))
        self.scale = depth_scale(layer_index)
        self.eps = eps

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """context (B, T, H, d) -> the same shape, each head normalised on its own."""
        rms = context.pow(2).mean(-1, keepdim=True).add(self.eps).rsqrt()
        return context * rms * self.gain * self.scale


class MTAttention(nn.Module):
    """A causal self-attention layer with Multi-Token Attention; identity-initialised blocks.

    kernel=(c_q, c_k) turns the key-query convolution on; mix_heads=c_h turns head mixing on;
    group_norm adds the per-head normalisation. With none of them it is standard attention.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        layer_index: int = 0,
        kernel: tuple[int, int] | None = None,
        pre_softmax: bool = True,
        key_padding: KeyPadding = "both",
        mix_heads: int | None = None,
        group_norm: bool = False,
    ):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.pre_softmax, self.key_padding = pre_softmax, key_padding
        self.kernel = None if kernel is None else nn.Parameter(identity_kernel(heads, *kernel, "backward", key_padding))
        self.mixing = None if mix_heads is None else nn.Parameter(torch.eye(mix_heads).repeat(heads // mix_heads, 1, 1))
        self.norm = HeadGroupNorm(heads, self.head_dim, layer_index) if group_norm else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> (output (B, T, C), attention weights (B, H, T, T))."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, d)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, T, T)
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        if self.kernel is not None:
            weights = key_query_convolution(scores, self.kernel, causal, pre_softmax=self.pre_softmax,
                                            key_padding=self.key_padding)
        else:
            weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        if self.mixing is not None:
            weights = head_mixing(weights, self.mixing)  # after softmax
        context = (weights @ v).transpose(1, 2)  # (B, T, H, d)
        if self.norm is not None:
            context = self.norm(context)
        return self.out(context.reshape(b, t, c)), weights


KernelPreset = Literal["identity", "box", "diagonal", "key window"]
KERNEL_PRESETS: tuple[KernelPreset, ...] = ("identity", "box", "diagonal", "key window")


def kernel_preset(name: KernelPreset, c_q: int, c_k: int) -> torch.Tensor:
    """One (c_q, c_k) kernel for keys padded on both sides (c_k odd); taps sum to 1.

    identity: the score itself. box: the mean of the whole window. diagonal ("phrase"): the
    query i tokens back with the key i tokens back, so a run of matching tokens adds up.
    key window: the same query with the neighbouring keys.
    """
    if c_k % 2 == 0:
        raise ValueError("the presets centre on the key: c_k must be odd")
    kernel, centre = torch.zeros(c_q, c_k), c_k // 2
    if name == "identity":
        kernel[c_q - 1, centre] = 1.0
    elif name == "box":
        kernel[:] = 1.0
    elif name == "diagonal":
        for i in range(min(c_q, centre + 1)):
            kernel[c_q - 1 - i, centre - i] = 1.0
    elif name == "key window":
        kernel[c_q - 1] = 1.0
    else:
        raise ValueError(f"unknown kernel preset {name!r}")
    return kernel / kernel.sum()


def convolve_layer(
    scores: torch.Tensor,
    allowed: torch.Tensor | None,
    kernel: torch.Tensor,
    pre_softmax: bool = True,
    mixing: torch.Tensor | None = None,
) -> torch.Tensor:
    """A recorded layer's maps as MTA would make them with `kernel` (c_q, c_k) in every head.

    scores: (H, Tq, Tk) from a capture; mixing: optional (H / c_h, c_h, c_h), applied after softmax.
    """
    heads = scores.shape[0]
    maps = key_query_convolution(scores[None].float(), kernel.expand(heads, *kernel.shape), allowed,
                                 pre_softmax=pre_softmax)  # (1, H, Tq, Tk)
    if mixing is not None:
        maps = head_mixing(maps, mixing)
    return maps[0]
