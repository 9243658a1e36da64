"""models.toy_model: both models learn, and a saved checkpoint reloads to identical outputs."""

from __future__ import annotations

import random

import pytest
import torch

from models.toy_model import ToyModelConfig, ToyTransformer, error_rate, load_toy_model, save_toy_model, train
from models.toy_task import ToyTask, make_batch

TASK = ToyTask(block_size=3, blocks=4)


def _model(kernel):
    torch.manual_seed(0)
    return ToyTransformer(ToyModelConfig(TASK.sequence_length, dim=32, layers=2, heads=2, kernel=kernel))


@pytest.mark.parametrize("kernel", [None, (2, 2 * TASK.block_size - 1)], ids=["baseline", "mta"])
def test_a_few_steps_reduce_the_loss(kernel):
    model = _model(kernel)
    losses = train(model, TASK, steps=60, batch_size=16, lr=3e-3)
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    assert 0.0 <= error_rate(model, TASK, examples=50) <= 1.0


def test_an_untrained_mta_model_equals_the_baseline_with_the_same_weights():
    baseline, mta = _model(None), _model((2, 5))
    mta.load_state_dict(baseline.state_dict(), strict=False)  # MTA adds only the identity kernels
    tokens, _ = make_batch(TASK, random.Random(0), 4)
    torch.testing.assert_close(mta(tokens)[0], baseline(tokens)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kernel", [None, (2, 5)])
def test_checkpoints_reload_to_identical_outputs(tmp_path, kernel):
    model = _model(kernel)
    train(model, TASK, steps=3, batch_size=4)
    reloaded, task = load_toy_model(save_toy_model(model, TASK, tmp_path / "ckpt"))
    assert task == TASK and reloaded.config == model.config
    tokens, _ = make_batch(TASK, random.Random(3), 4)
    with torch.no_grad():
        assert torch.equal(reloaded(tokens)[0], model(tokens)[0])
