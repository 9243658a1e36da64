"""InfoNCE between two views, summed over the Matryoshka sizes (the training objective)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 1.0


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE for unit rows a, b (B, D): row i of a should pick row i of b, and back.

    Logits in float32; cross-entropy is a log-softmax (logsumexp), stable for any temperature.
    """
    logits = a.float() @ b.float().T / temperature  # (B, B)
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def matryoshka_info_nce(
    a: dict[int, torch.Tensor], b: dict[int, torch.Tensor], temperature: torch.Tensor | float
) -> torch.Tensor:
    """The InfoNCE of every nested size, summed: small prefixes must work on their own too."""
    return sum(info_nce(a[size], b[size], temperature) for size in a)


def clamped_temperature(log_temperature: torch.Tensor) -> torch.Tensor:
    """A learned temperature kept in [0.01, 1]: too small overflows the logits, too large flattens them."""
    return log_temperature.exp().clamp(MIN_TEMPERATURE, MAX_TEMPERATURE)
