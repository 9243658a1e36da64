"""models.head.reducer: the most-attended tokens survive, the rest is merged, nothing else."""

from __future__ import annotations

import pytest
import torch

from models.head.reducer import TokenReducer


@pytest.mark.parametrize(("n", "keep"), [(257, 64), (50, 10), (5, 5), (3, 16)])
def test_shapes_and_kept_positions(n, keep):
    torch.manual_seed(0)
    reduced = TokenReducer(32, 4, keep)(torch.randn(2, n, 32))
    kept = min(keep - 1, n - 1)
    assert reduced.tokens.shape == (2, kept + 1, 32) and reduced.kept.shape == (2, kept)
    assert reduced.received.shape == (2, n)
    torch.testing.assert_close(reduced.received.sum(-1), torch.full((2,), float(n)))  # n rows, each sums to 1
    for row, received in zip(reduced.kept, reduced.received, strict=True):
        assert row.tolist() == sorted(row.tolist())
        assert set(row.tolist()) == set(received.topk(kept).indices.tolist())


def test_kept_tokens_are_the_inputs_and_the_merged_one_their_received_weighted_rest():
    torch.manual_seed(1)
    x = torch.randn(1, 9, 16)
    reduced = TokenReducer(16, 2, keep=4)(x)
    dropped = [i for i in range(9) if i not in reduced.kept[0].tolist()]
    w = reduced.received[0, dropped]
    torch.testing.assert_close(reduced.tokens[0, -1], (w[:, None] * x[0, dropped]).sum(0) / w.sum())
    assert torch.equal(reduced.tokens[0, :-1], x[0, reduced.kept[0]])


def test_the_reducer_learns_through_the_merge_weights():
    reducer = TokenReducer(16, 2, keep=4)
    reducer(torch.randn(2, 9, 16)).tokens.sum().backward()
    assert reducer.query.weight.grad.abs().sum() > 0 and reducer.key.weight.grad.abs().sum() > 0


def test_keeping_fewer_than_two_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        TokenReducer(16, 2, keep=1)
