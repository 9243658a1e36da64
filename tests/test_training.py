"""models.training: the shared schedule ramps up, decays to 0 and resumes where it stopped; the step clips."""

import math

import pytest
import torch

from models.training import clipped_step, warmup_cosine


def _optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=lr)


def _rates(schedule, optimizer, count: int) -> list[float]:
    rates = []
    for _ in range(count):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_warmup_rises_linearly_then_the_cosine_falls_to_zero():
    optimizer = _optimizer()
    rates = _rates(warmup_cosine(optimizer, steps=20, warmup=4), optimizer, 21)
    assert rates[:4] == pytest.approx([(s + 1) / 4 * 0.5 * (1 + math.cos(math.pi * s / 20)) for s in range(4)])
    assert all(a > b for a, b in zip(rates[3:20], rates[4:21], strict=True))  # falls after the warm-up
    assert rates[20] == pytest.approx(0.0, abs=1e-12)


def test_a_resumed_schedule_continues_where_the_first_one_stopped():
    straight = _optimizer()
    expected = _rates(warmup_cosine(straight, steps=10, warmup=3), straight, 10)
    first = _optimizer()
    _rates(warmup_cosine(first, steps=10, warmup=3), first, 6)
    resumed = _optimizer()
    resumed.load_state_dict(first.state_dict())  # carries each group's initial_lr, as a checkpoint does
    assert _rates(warmup_cosine(resumed, steps=10, warmup=3, start=6), resumed, 4) == pytest.approx(expected[6:])


def test_the_step_clips_everything_the_optimiser_trains_before_updating():
    weight, other = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [weight]}, {"params": [other]}], lr=1.0)  # two groups, as when unfrozen
    schedule = warmup_cosine(optimizer, steps=100, warmup=1)
    clipped_step((weight * 30.0 + other * 40.0).sum(), optimizer, schedule, max_norm=1.0)
    # one norm over both groups: gradient (30, 40) cut to norm 1
    torch.testing.assert_close(torch.cat([weight.detach(), other.detach()]), torch.tensor([-0.6, -0.8]))
    assert schedule.last_epoch == 1
