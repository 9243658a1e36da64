"""The two pieces every trainer here shares: a warm-up + cosine learning-rate schedule and one clipped step."""

from __future__ import annotations

import math

import torch


def warmup_cosine(
    optimizer: torch.optim.Optimizer, steps: int, warmup: int, start: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `steps`; `start` > 0 resumes mid-way."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
        last_epoch=start - 1 if start else -1,
    )


def clipped_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    max_norm: float = 1.0,
) -> None:
    """Backpropagate `loss`, clip the gradient norm of everything the optimiser trains to `max_norm`, then step
    optimiser and schedule (so a caption projection, the temperature and unfrozen backbone blocks are clipped too)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], max_norm)
    optimizer.step()
    schedule.step()
