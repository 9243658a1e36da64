"""Part 5, the UnLearnable Token: a frozen semantic anchor for the pooling attention.

It is a buffer, not a parameter: it is never in the optimiser and never gets a gradient. Its value is
the mean of the dataset's query-side vectors: the backbone tokens of every training view, averaged
once over the training data before training starts ("the average photo"). It enters the pooling
attention as one extra key/value beside the reduced tokens (see pooling.py), so a pooling head that
finds nothing specific in a photo can rest on the average instead of piling all its weight onto a
few patches (attention collapse). Since the backbone is frozen, the anchor stays in the same space as
the tokens it competes with.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def dataset_mean(batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """The mean token (C,) over batches of backbone tokens (..., C), summed in float64."""
    total, count = None, 0
    for tokens in batches:
        flat = tokens.reshape(-1, tokens.shape[-1]).double()
        total = flat.sum(0) if total is None else total + flat.sum(0)
        count += flat.shape[0]
    if total is None:
        raise ValueError("no training data to average")
    return (total / count).float()


class AnchorToken(nn.Module):
    """Holds the frozen anchor (C,); `fill` sets it once from the training data's mean."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("value", torch.zeros(dim))

    @torch.no_grad()
    def fill(self, mean: torch.Tensor) -> None:
        self.value.copy_(mean)

    def forward(self, batch: int) -> torch.Tensor:
        """The anchor as one token per example: (B, 1, C), detached."""
        return self.value.detach().expand(batch, 1, -1)
