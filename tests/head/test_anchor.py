"""models.head.anchor: the dataset mean, and filling it once."""

from __future__ import annotations

import pytest
import torch

from models.head.anchor import AnchorToken, dataset_mean


def test_dataset_mean_is_the_mean_of_every_token():
    batches = [torch.randn(3, 7, 16), torch.randn(5, 7, 16)]
    torch.testing.assert_close(dataset_mean(batches), torch.cat(batches).reshape(-1, 16).mean(0))


def test_no_data_is_an_error():
    with pytest.raises(ValueError, match="no training data"):
        dataset_mean([])


def test_the_anchor_token_expands_without_copying_a_gradient_path():
    anchor = AnchorToken(8)
    anchor.fill(torch.arange(8.0))
    token = anchor(3)
    assert token.shape == (3, 1, 8) and not token.requires_grad
    assert torch.equal(token[2, 0], torch.arange(8.0))
