"""Float comparisons that scale with what is compared, so the suite is green on any CPU and thread count."""

from __future__ import annotations

import torch

from models.engine.precision import float32_tolerance


def assert_close32(actual: torch.Tensor, expected: torch.Tensor, *, scale: float | None = None, terms: int = 1,
                   ulps: float = 16.0) -> None:
    """`actual` equals `expected` up to float32 rounding of values of size `scale` that sum `terms` terms.

    scale defaults to the largest |expected|: pass the size of the inputs when the result is a softmax
    (a weight moves with the rounding of its logit) or a sum that cancels.
    """
    scale = expected.abs().max().item() if scale is None else scale
    atol = float32_tolerance(scale, terms, ulps)
    torch.testing.assert_close(actual.double(), expected.double(), rtol=0, atol=atol)
