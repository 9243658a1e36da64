"""models.mta.toy_model: both models learn, and a saved checkpoint reloads to identical outputs."""

from __future__ import annotations

import random

import pytest
import torch

from models.mta.toy_model import (
    ToyModelConfig,
    ToyTransformer,
    answer,
    error_rate,
    learned_kernels,
    load_toy_model,
    read_prompt,
    save_toy_model,
    train,
)
from models.mta.toy_task import VOCAB, ToyTask, make_batch, make_example
from tests.tolerance import assert_close32

TASK = ToyTask(block_size=3, blocks=4)


def _model(kernel):
    torch.manual_seed(0)
    return ToyTransformer(ToyModelConfig(TASK.sequence_length, dim=32, layers=2, heads=2, kernel=kernel))


@pytest.mark.parametrize("kernel", [None, (2, 2 * TASK.block_size - 1)], ids=["baseline", "mta"])
def test_a_few_steps_reduce_the_loss(kernel):
    model = _model(kernel)
    losses = train(model, TASK, steps=120, batch_size=16, lr=1e-2)  # starts at ln(30) = 3.4: uniform guessing
    assert sum(losses[-10:]) / 10 < 0.85 * sum(losses[:10]) / 10  # below guessing any letter (ln 26 = 3.26)
    assert error_rate(model, TASK, examples=50, seed=7) == _greedy_error_rate(model, 50, seed=7)


def _greedy_error_rate(model, examples: int, seed: int) -> float:
    """The exact-answer error rate written out here: one example at a time, one token at a time, count rows
    with any miss."""
    tokens, _ = make_batch(TASK, random.Random(seed), examples)
    wrong = 0
    with torch.no_grad():
        for row in tokens:
            sequence = row[: TASK.prompt_length].tolist()
            for _ in range(TASK.answer_length):
                logits = model(torch.tensor([sequence]))[0]  # (1, T, vocab)
                sequence.append(int(logits[0, -1].argmax()))
            wrong += sequence[TASK.prompt_length :] != row[TASK.prompt_length :].tolist()
    return wrong / examples


def test_an_untrained_mta_model_equals_the_baseline_with_the_same_weights():
    baseline, mta = _model(None), _model((2, 5))
    mta.load_state_dict(baseline.state_dict(), strict=False)  # MTA adds only the identity kernels
    tokens, _ = make_batch(TASK, random.Random(0), 4)
    expected = baseline(tokens)[0]
    assert_close32(mta(tokens)[0], expected, terms=expected.shape[-1])


@pytest.mark.parametrize("kernel", [None, (2, 5)])
def test_checkpoints_reload_to_identical_outputs(tmp_path, kernel):
    model = _model(kernel)
    train(model, TASK, steps=3, batch_size=4)
    reloaded, task = load_toy_model(save_toy_model(model, TASK, tmp_path / "ckpt"))
    assert task == TASK and reloaded.config == model.config
    tokens, _ = make_batch(TASK, random.Random(3), 4)
    with torch.no_grad():
        assert torch.equal(reloaded(tokens)[0], model(tokens)[0])


@pytest.mark.parametrize("kernel", [None, (2, 5)])
def test_reading_a_prompt_gives_an_answer_maps_and_the_layer_where_the_block_is_found(kernel):
    model = _model(kernel)
    prompt, _, block = make_example(TASK, random.Random(5))
    reading = read_prompt(model, TASK, prompt, block)
    assert len(reading.answer) == TASK.answer_length and set(reading.answer) <= set(VOCAB)
    assert [m.shape for m in reading.maps] == [(2, TASK.sequence_length, TASK.sequence_length)] * 2
    assert reading.block_share.shape == (2, 2) and 0 <= reading.found_layer < 2
    assert reading.found_layer == int(reading.block_share.mean(-1).argmax())
    start = block * (TASK.block_size + 1)  # the '=' row's weight on the answer block, summed here by hand
    for layer, maps in enumerate(reading.maps):
        for head in range(maps.shape[0]):
            row = maps[head, TASK.prompt_length - 1]
            expected = sum(float(row[start + i]) for i in range(TASK.block_size))
            assert float(reading.block_share[layer, head]) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    kernels = learned_kernels(model)
    assert kernels == [] if kernel is None else [k.shape for k in kernels] == [(2, 2, 5)] * 2


def test_the_greedy_answer_feeds_each_token_back():
    model = _model((2, 5))
    tokens, _ = make_batch(TASK, random.Random(2), 3)
    prompts = tokens[:, : TASK.prompt_length]
    given = answer(model, TASK, prompts)
    with torch.no_grad():
        for step in range(TASK.answer_length):  # each answer token is the argmax given the ones before it
            logits, _ = model(torch.cat([prompts, given[:, :step]], dim=1))
            assert torch.equal(logits[:, -1].argmax(-1), given[:, step])
