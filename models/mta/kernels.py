"""Multi-Token Attention (Golovneva et al., 2025): attention weights that see neighbouring queries, keys and heads.

Three blocks on top of ordinary attention, each a small module you can use on its own:

- key-query convolution: a (c_q, c_k) kernel per head slides over the (query, key) plane of the
  scores, so one weight can depend on several query and key tokens. Pre-softmax (default):
  Softmax(Mask_-inf(Conv2d(Mask_0(scores)))); post-softmax: Mask_0(Conv2d(Softmax(Mask_-inf(scores)))).
  Queries look only backwards (c_q - 1 zero rows on top); keys are padded left, right or both.
- head mixing: within groups of c_h heads, each map becomes a learned mix of the group's maps, before
  softmax (scores) or after it (weights).
- group normalisation per head (one gain shared by all heads), optionally scaled by (1 - lambda),
  lambda = 0.8 - 0.6 exp(-0.3 layer).

Parameters are laid out as in the official code (facebookresearch/RAM, projects/mta/mta_transformer.py).

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


def convolve(x: torch.Tensor, kernel: torch.Tensor, query_padding: QueryPadding = "backward",
             key_padding: KeyPadding = "both") -> torch.Tensor:
    """Each head's (Tq, Tk) plane of x (B, H, Tq, Tk) convolved with its kernel (H, c_q, c_k), zero-padded so the
    shape is kept. The official `mta_kernel` (H, 1, c_q, c_k) is kernel[:, None]: the same grouped conv."""
    heads, c_q, c_k = kernel.shape
    weight = kernel.to(x)[:, None]  # (H, 1, c_q, c_k): one kernel per head (grouped conv)
    return F.conv2d(F.pad(x, _pads(c_q, c_k, query_padding, key_padding)), weight, groups=heads)


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
    query may attend a key (None: everywhere) -> weights (B, H, Tq, Tk), rows sum to 1 (pre-softmax).
    """
    if pre_softmax:
        x = scores if allowed is None else scores.masked_fill(~allowed, 0.0)  # Mask_0
        x = convolve(x, kernel, query_padding, key_padding)
        if allowed is not None:
            x = x.masked_fill(~allowed, float("-inf"))  # Mask_-inf
        return torch.softmax(x, dim=-1)
    x = scores if allowed is None else scores.masked_fill(~allowed, float("-inf"))
    x = convolve(torch.softmax(x, dim=-1), kernel, query_padding, key_padding)
    return x if allowed is None else x.masked_fill(~allowed, 0.0)


def head_mixing(maps: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """Mix heads within groups: maps (B, H, Tq, Tk), mixing (H / c_h, c_h, c_h) -> (B, H, Tq, Tk).

    Laid out as the official `_head_convolution`: output head o of group g = sum_j mixing[g, j, o] * input
    head j of group g. A linear layer over all heads (`wpsm`, `wposm`, weight (out, in)) is weight.T[None].
    """
    b, h, tq, tk = maps.shape
    groups, c_h, _ = mixing.shape
    grouped = maps.view(b, groups, c_h, tq, tk)  # (B, G, c_h, Tq, Tk)
    return torch.einsum("gjo,bgjqk->bgoqk", mixing.to(maps), grouped).reshape(b, h, tq, tk)


def depth_scale(layer_index: int) -> float:
    """(1 - lambda) with lambda = 0.8 - 0.6 exp(-0.3 layer): how much of the normalised output is kept."""
    return 1.0 - (0.8 - 0.6 * math.exp(-0.3 * layer_index))


class HeadGroupNorm(nn.Module):
    """RMS normalisation of each head's output with one gain shared by all heads (the official RMSNorm(head_dim)),
    times the depth scale when `rescale` (the official `layer_norm_rescale`)."""

    def __init__(self, head_dim: int, layer_index: int, rescale: bool = False, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(head_dim))
        self.scale = depth_scale(layer_index) if rescale else 1.0
        self.eps = eps

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """context (B, T, H, d) -> the same shape, each head normalised on its own."""
        rms = context.pow(2).mean(-1, keepdim=True).add(self.eps).rsqrt()
        return context * rms * self.weight * self.scale


def rotary(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary position embedding of queries or keys x (B, H, T, d): pairs (2i, 2i + 1) turned by t * theta^(-2i/d)."""
    t, d = x.shape[-2], x.shape[-1]
    frequencies = theta ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)  # (d / 2,)
    angles = torch.arange(t, device=x.device, dtype=torch.float32)[:, None] * frequencies  # (T, d / 2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class MTAttention(nn.Module):
    """A causal self-attention layer with Multi-Token Attention; every MTA block starts at identity.

    kernel=(c_q, c_k): key-query convolution before softmax; post_kernel: after softmax (both: the combined
    form); pre_mixing: a linear mix of all heads' scores before softmax (official `pre_sm_linear_head`);
    mix_heads=c_h: head convolution after softmax (official `head_kernel_size`); group_norm: the shared per-head
    RMS norm, with `rescale` its depth scaling. With none of them it is standard attention.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        layer_index: int = 0,
        kernel: tuple[int, int] | None = None,
        post_kernel: tuple[int, int] | None = None,
        key_padding: KeyPadding = "both",
        pre_mixing: bool = False,
        mix_heads: int | None = None,
        group_norm: bool = False,
        rescale: bool = False,
        rope_theta: float | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.key_padding, self.rope_theta, self.dropout = key_padding, rope_theta, dropout

        def identity(size):
            return None if size is None else nn.Parameter(identity_kernel(heads, *size, "backward", key_padding))

        self.kernel, self.post_kernel = identity(kernel), identity(post_kernel)
        self.pre_mixing = nn.Parameter(torch.eye(heads)) if pre_mixing else None  # (out, in), as nn.Linear
        self.mixing = None if mix_heads is None else nn.Parameter(torch.eye(mix_heads).repeat(heads // mix_heads, 1, 1))
        self.norm = HeadGroupNorm(self.head_dim, layer_index, rescale) if group_norm else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> (output (B, T, C), attention weights (B, H, T, T))."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, d)
        if self.rope_theta is not None:
            q, k = rotary(q, self.rope_theta), rotary(k, self.rope_theta)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, T, T)
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        if self.kernel is not None:
            scores = convolve(scores.masked_fill(~causal, 0.0), self.kernel, "backward", self.key_padding)
        if self.pre_mixing is not None:
            scores = head_mixing(scores, self.pre_mixing.T[None])
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        if self.post_kernel is not None:
            weights = convolve(weights, self.post_kernel, "backward", self.key_padding).masked_fill(~causal, 0.0)
        if self.mixing is not None:
            weights = head_mixing(weights, self.mixing)
        weights = F.dropout(weights, self.dropout, self.training)
        context = (weights @ v).transpose(1, 2)  # (B, T, H, d)
        if self.norm is not None:
            context = self.norm(context)
        return self.out(context.reshape(b, t, c)), weights


def from_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official `Attention` state dict (wq, wk, wv, wo, mta_kernel, mta_kernel_after_sm, wpsm, head_kernel or
    wposm, subln) as MTAttention's, so a kernel trained by the official code loads here unchanged."""
    ours = {"qkv.weight": torch.cat([state["wq.weight"], state["wk.weight"], state["wv.weight"]]),
            "out.weight": state["wo.weight"]}
    if "mta_kernel" in state:
        ours["kernel"] = state["mta_kernel"][:, 0]  # (H, 1, c_q, c_k) -> (H, c_q, c_k)
    if "mta_kernel_after_sm" in state:
        ours["post_kernel"] = state["mta_kernel_after_sm"][:, 0]
    if "wpsm.weight" in state:
        ours["pre_mixing"] = state["wpsm.weight"]
    if "head_kernel" in state:
        ours["mixing"] = state["head_kernel"]
    if "wposm.weight" in state:
        ours["mixing"] = state["wposm.weight"].T[None]  # one group of every head
    if "subln.weight" in state:
        ours["norm.weight"] = state["subln.weight"]
    return ours


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
