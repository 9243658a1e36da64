"""How far two float32 computations of the same number may differ: the bound scales with size and length.

Two correct float32 computations (another CPU, another thread count, another order of summation)
differ by rounding. For a sum of n products whose magnitudes add up to S, that difference grows like
sqrt(n) units in the last place of S. Comparisons between the model and a hand computation, in the
page and in the tests, use this bound instead of a fixed 1e-5, which is wrong for values near 25.
"""

from __future__ import annotations

import math

import torch

FLOAT32_EPS = torch.finfo(torch.float32).eps


def float32_tolerance(scale: float, terms: int = 1, ulps: float = 16.0) -> float:
    """Bound on |a - b| for two float32 results whose summed terms have magnitude `scale`, over `terms` terms."""
    return ulps * FLOAT32_EPS * max(float(scale), FLOAT32_EPS) * math.sqrt(max(int(terms), 1))
