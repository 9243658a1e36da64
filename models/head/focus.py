"""Where the head looks on the photo: pooling weights carried back from reduced tokens to patches."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.engine.capture import AttentionCapture
from models.head.head import AttentionHead, HeadOutput, patch_entropy


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


@dataclass(frozen=True)
class HeadReading:
    """The head on one captured photo: where each pooling head looks, and what the reducer kept."""

    focus: torch.Tensor  # (H, rows, cols) pooling weight per patch, anchor left out
    anchor_share: torch.Tensor | None  # (H,) weight on the anchor token
    kept: torch.Tensor  # (rows, cols) True where the reducer kept the patch's token
    received: torch.Tensor  # (rows, cols) attention each patch received in the reducer
    entropy_bits: torch.Tensor  # (H,) entropy of each pooling head over the reduced tokens
    kept_special: int  # kept tokens that are not patches (CLS, registers)


@torch.no_grad()
def read_photo(head: AttentionHead, capture: AttentionCapture) -> HeadReading:
    """Run the head on a capture's last hidden state (the tokens it was trained on)."""
    if capture.hidden is None or capture.grid is None:
        raise ValueError("this capture has no image tokens for the head")
    if capture.hidden.shape[-1] != head.config.dim:
        raise ValueError(f"the head reads {head.config.dim}-wide tokens; {capture.model_name} gives "
                         f"{capture.hidden.shape[-1]}")
    grid = capture.grid
    output = head(capture.hidden[None].float())
    anchored = head.anchor is not None
    place = (0, grid.first_patch, grid.rows, grid.cols)
    received = output.received[0, grid.patches].reshape(grid.rows, grid.cols)
    share = head.anchor_share(output)  # (1, H) or None
    return HeadReading(head_focus(output, *place, anchored), None if share is None else share[0],
                       kept_mask(output, *place), received, patch_entropy(output, anchored)[0],
                       int((output.kept[0] < grid.first_patch).sum()))
