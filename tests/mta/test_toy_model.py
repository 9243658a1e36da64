"""models.mta.toy_model: both models learn, and a saved checkpoint reloads to identical outputs."""

from __future__ import annotations

import random

import pytest
import torch

from models.mta.toy_model import (
    ToyModelConfig,
    ToyTraining,
    ToyTransformer,
    answer,
    answer_rates,
    learned_kernels,
    load_toy_model,
    read_prompt,
    save_toy_model,
    train,
)
from models.mta.toy_task import VOCAB, ToyTask, encode, make_batch, make_example, make_examples
from tests.tolerance import assert_close32

TASK = ToyTask(block_size=3, blocks=4)


def _model(kernel, dropout=0.1):
    torch.manual_seed(0)
    return ToyTransformer(ToyModelConfig(TASK.sequence_length, dim=32, layers=2, heads=2, kernel=kernel,
                                         dropout=dropout))


DATA = make_examples(TASK, random.Random(0), 512)


@pytest.mark.parametrize("kernel", [None, (2, 2 * TASK.block_size - 1)], ids=["baseline", "mta"])
def test_a_few_steps_reduce_the_loss(kernel):
    model = _model(kernel)
    losses = train(model, TASK, DATA, steps=120, batch_size=16, lr=1e-2, warmup=10)  # ln(31) = 3.4 at the start
    assert sum(losses[-10:]) / 10 < 0.85 * sum(losses[:10]) / 10  # below guessing any letter (ln 26 = 3.26)
    tokens = make_examples(TASK, random.Random(7), 50)
    assert answer_rates(model, TASK, tokens) == _rates_by_hand(model, tokens)


def _rates_by_hand(model, tokens) -> dict[str, float]:
    """The three rates written out here: one example at a time, one token at a time, then compare strings."""
    counts = {"error": 0, "located": 0, "copied": 0}
    with torch.no_grad():
        for row in tokens.long():
            sequence = row[: TASK.prompt_length].tolist()
            for _ in range(TASK.answer_length):
                logits = model(torch.tensor([sequence]))[0]  # (1, T, vocab)
                sequence.append(int(logits[0, -1].argmax()))
            given = [VOCAB[i] for i in sequence[TASK.prompt_length :]]
            target = [VOCAB[i] for i in row[TASK.prompt_length : -1].tolist()]
            blocks = "".join(VOCAB[i] for i in row[1 : TASK.prompt_length]).split("#")[0].split(".")
            counts["error"] += given != target
            counts["located"] += given[0] == target[0]
            counts["copied"] += "".join(given) in blocks
    return {name: count / len(tokens) for name, count in counts.items()}


@pytest.mark.parametrize("kernel", [None, (2, 5)])
def test_a_training_cut_and_resumed_ends_exactly_where_an_uncut_one_does(kernel):
    def training():
        torch.manual_seed(4)
        return ToyTraining(_model(kernel), TASK, DATA[:40], batch_size=16, lr=1e-3, warmup=5, seed=4)

    whole = training()
    for _ in range(8):  # 8 x 16 = 128 examples: three passes over the 40, each in its own order
        whole.step()
    cut = training()
    for _ in range(3):
        cut.step()
    state = cut.state_dict()
    torch.manual_seed(99)  # whatever ran in between
    resumed = training()
    resumed.load_state_dict(state)
    for _ in range(5):
        resumed.step()
    assert resumed.step_count == whole.step_count == 8
    for name, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_an_untrained_mta_model_equals_the_baseline_with_the_same_weights():
    baseline, mta = _model(None).eval(), _model((2, 5)).eval()
    mta.load_state_dict(baseline.state_dict(), strict=False)  # MTA adds only the identity kernels
    tokens, _ = make_batch(TASK, random.Random(0), 4)
    expected = baseline(tokens)[0]
    assert_close32(mta(tokens)[0], expected, terms=expected.shape[-1])


@pytest.mark.parametrize("kernel", [None, (2, 5)])
def test_checkpoints_reload_to_identical_outputs(tmp_path, kernel):
    model = _model(kernel)
    train(model, TASK, DATA, steps=3, batch_size=4)
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
    length = TASK.sequence_length - 1  # BOS, prompt and the answer given: no EOS
    assert [m.shape for m in reading.maps] == [(2, length, length)] * 2
    assert reading.block_share.shape == (2, 2) and 0 <= reading.found_layer < 2
    assert reading.found_layer == int(reading.block_share.mean(-1).argmax())
    start = 1 + block * (TASK.block_size + 1)  # the last query letter's weight on the answer block, by hand
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
    assert prompts[0, 0] == encode("^")[0]  # the prompts begin with BOS
    given = answer(model, TASK, prompts)
    with torch.no_grad():
        for step in range(TASK.answer_length):  # each answer token is the argmax given the ones before it
            logits, _ = model(torch.cat([prompts, given[:, :step]], dim=1))
            assert torch.equal(logits[:, -1].argmax(-1), given[:, step])
