"""Where the head looks on the photo: pooling weights carried back from reduced tokens to patches."""

from __future__ import annotations

import torch

from models.head.head import HeadOutput


def head_focus(output: HeadOutput, example: int, first_patch: int, rows: int, cols: int,
               anchored: bool) -> torch.Tensor:
    """Each pooling head's weight per patch of one example: (H, rows, cols); the anchor's share left out.

    A kept token's weight goes to its own patch; the merged token's weight is spread over the dropped
    tokens in proportion to the attention each received in the reducer (how they were merged).
    """
    pooling = output.pooling[example]  # (H, M [+ 1])
    patches = pooling[:, :-1] if anchored else pooling  # (H, M): kept tokens, then the merged one
    kept, received = output.kept[example], output.received[example]  # (M - 1,), (N,)
    n = received.shape[0]
    dropped = torch.ones(n, dtype=torch.bool, device=received.device)
    dropped[kept] = False
    spread = received * dropped / (received * dropped).sum().clamp_min(1e-12)  # (N,)
    per_token = patches[:, -1:] * spread  # (H, N): the merged token's weight, spread back
    per_token[:, kept] += patches[:, :-1]
    grid = per_token[:, first_patch : first_patch + rows * cols]  # CLS and registers are not on the photo
    return grid.reshape(-1, rows, cols)


def kept_mask(output: HeadOutput, example: int, first_patch: int, rows: int, cols: int) -> torch.Tensor:
    """True on the patches the reducer kept: (rows, cols)."""
    mask = torch.zeros(output.received.shape[-1], dtype=torch.bool)
    mask[output.kept[example].cpu()] = True
    return mask[first_patch : first_patch + rows * cols].reshape(rows, cols)
