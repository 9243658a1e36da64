"""Silencing a head by hand, independently of models.engine.ablation: zero its slice of the output projection's
input with a forward pre-hook, removed on leaving."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def zeroed_head(projection: nn.Module, head: int, width: int) -> Iterator[None]:
    """Within the block, `projection` sees head `head`'s `width` inputs as zeros."""
    def hook(module, args):
        x = args[0].clone()
        x[..., head * width:(head + 1) * width] = 0
        return (x,)

    handle = projection.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
