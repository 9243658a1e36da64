"""models.head.reducer: the most-attended tokens survive, the rest is merged, nothing else."""

from __future__ import annotations

import pytest
import torch

from models.head.reducer import TokenReducer
from tests.tolerance import assert_close32


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
    reducer = TokenReducer(16, 2, keep=4, head_dim=8).requires_grad_(False)
    reduced = reducer(x)
    # what each token received, recomputed here from the reducer's own projections: per head, softmax of
    # q.k / sqrt(8) over keys, summed over queries, then averaged over the 2 heads
    normed = reducer.norm(x[0])
    q = reducer.query(normed).view(9, 2, 8).transpose(0, 1)  # (H, N, d)
    k = reducer.key(normed).view(9, 2, 8).transpose(0, 1)
    received = torch.softmax(q @ k.transpose(1, 2) / 8**0.5, dim=-1).sum(1).mean(0)  # (N,)
    assert_close32(reduced.received[0], received, terms=8 * 9)
    top = sorted(received.topk(3).indices.tolist())
    assert reduced.kept[0].tolist() == top and torch.equal(reduced.tokens[0, :-1], x[0, top])
    dropped = [i for i in range(9) if i not in top]
    merged = sum(float(received[i]) * x[0, i] for i in dropped) / sum(float(received[i]) for i in dropped)
    assert_close32(reduced.tokens[0, -1], merged, terms=len(dropped))


def test_the_reducer_learns_through_the_merge_weights():
    reducer = TokenReducer(16, 2, keep=4)
    reducer(torch.randn(2, 9, 16)).tokens.sum().backward()
    assert reducer.query.weight.grad.abs().sum() > 0 and reducer.key.weight.grad.abs().sum() > 0


def test_keeping_fewer_than_two_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        TokenReducer(16, 2, keep=1)
