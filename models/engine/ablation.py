"""Silencing heads: within `ablating(...)`, chosen heads' outputs are zeroed before the output projection, as
Michel et al. (2019) and Voita et al. (2019) mask heads; nothing stays attached after the context."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from models.engine.lens_attention import LENS_ATTENTION, active_ablation


@contextmanager
def ablating(model: nn.Module, keep: Mapping[str, torch.Tensor], mean: bool = False) -> Iterator[None]:
    """Run `model` with each named attention module's heads scaled by `keep[name]`, (B, H): 1 keeps a head for
    that batch item, 0 silences it. With `mean`, a silenced head's output is replaced by its mean over the
    positions each position may attend to (mean-ablation) instead of 0. Only models running Attention Lens's
    attention can be ablated."""
    if getattr(model.config, "_attn_implementation", None) != LENS_ATTENTION:
        raise ValueError("only a model loaded with Attention Lens's attention can have its heads silenced")
    modules = {model.get_submodule(name): (multipliers, mean) for name, multipliers in keep.items()}
    token = active_ablation.set(modules)
    try:
        yield
    finally:
        active_ablation.reset(token)
