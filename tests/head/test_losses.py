"""models.head.losses: InfoNCE against a hand computation, Matryoshka sums, the temperature clamp."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from models.head.losses import clamped_temperature, info_nce, matryoshka_info_nce
from models.head.matryoshka import nested_embeddings


def _by_hand(a: list[list[float]], b: list[list[float]], t: float) -> float:
    n = len(a)
    sim = [[sum(x * y for x, y in zip(a[i], b[j], strict=True)) / t for j in range(n)] for i in range(n)]
    rows = sum(math.log(sum(math.exp(s) for s in sim[i])) - sim[i][i] for i in range(n)) / n
    cols = sum(math.log(sum(math.exp(sim[j][i]) for j in range(n))) - sim[i][i] for i in range(n)) / n
    return (rows + cols) / 2


def test_info_nce_equals_a_hand_computation():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    assert math.isclose(info_nce(a, b, 0.1).item(), _by_hand(a.tolist(), b.tolist(), 0.1), rel_tol=1e-5)


def test_info_nce_is_small_for_matching_views_and_stable_at_the_smallest_temperature():
    a = F.normalize(torch.randn(16, 32), dim=-1)
    assert info_nce(a, a, 0.05).item() < 0.05
    assert torch.isfinite(info_nce(a, -a, 0.01))


def test_matryoshka_loss_sums_every_size():
    torch.manual_seed(1)
    x, y = torch.randn(6, 32), torch.randn(6, 32)
    a, b = nested_embeddings(x, (8, 16, 32)), nested_embeddings(y, (8, 16, 32))
    expected = sum(info_nce(F.normalize(x[:, :s], dim=-1), F.normalize(y[:, :s], dim=-1), 0.2) for s in (8, 16, 32))
    torch.testing.assert_close(matryoshka_info_nce(a, b, 0.2), expected)


def test_temperature_is_clamped():
    assert math.isclose(clamped_temperature(torch.tensor(-20.0)).item(), 0.01, rel_tol=1e-6)
    assert clamped_temperature(torch.tensor(3.0)).item() == 1.0
    assert math.isclose(clamped_temperature(torch.tensor(math.log(0.07))).item(), 0.07, rel_tol=1e-6)
