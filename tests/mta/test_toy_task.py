"""models.mta.toy_task: the generator keeps the task's promises."""

from __future__ import annotations

import random
import re

import pytest

from models.mta.toy_task import (
    BOS,
    EOS,
    LETTERS,
    QUERY,
    SEPARATOR,
    VOCAB,
    PromptError,
    ToyTask,
    decode,
    make_batch,
    make_example,
    make_examples,
    parse_prompt,
)


@pytest.mark.parametrize("variant", ["all", "first", "last"])
@pytest.mark.parametrize(("block_size", "blocks"), [(2, 3), (5, 10), (8, 12)])
def test_exactly_one_block_holds_the_query_letters(variant, block_size, blocks):
    task = ToyTask(block_size, blocks, 2, variant)
    rng = random.Random(0)
    for _ in range(200):
        prompt, answer, target = make_example(task, rng)
        assert len(prompt) + 1 == task.prompt_length and len(answer) == task.answer_length  # + BOS
        body, query = prompt.split(QUERY)
        assert len(query) == 2 and query[0] != query[1]
        found = body.split(SEPARATOR)
        assert len(found) == blocks and all(len(b) == block_size and set(b) <= set(LETTERS) for b in found)
        assert len(set(found)) == blocks  # distinct blocks, as the official generator
        holders = [i for i, b in enumerate(found) if all(q in b for q in query)]
        assert holders == [target]
        block = found[target]
        assert answer == {"all": block, "first": block[0], "last": block[-1]}[variant]


def test_batches_are_laid_out_as_the_official_data_with_the_loss_on_answer_and_end_only():
    task = ToyTask(3, 4)
    tokens, targets = make_batch(task, random.Random(1), 8)
    assert tokens.shape == targets.shape == (8, task.sequence_length)
    assert (targets != -100).sum(1).tolist() == [3 + 1] * 8  # the answer and EOS
    for row, target in zip(tokens, targets, strict=True):
        text = decode(row)
        assert text[0] == BOS and text[-1] == EOS and text.count(QUERY) == 1
        answer = text[text.index(QUERY) + 1 + task.query_letters :]  # the block and EOS
        assert decode(target[target != -100]) == answer
        # each target sits one place before its token: the first answer letter is read at the last query letter
        assert int(target[task.prompt_length - 1]) == int(row[task.prompt_length])
    assert set(tokens.unique().tolist()) <= set(range(len(VOCAB)))


def test_a_fixed_set_has_no_prompt_twice_and_none_from_the_excluded_set():
    task, seen = ToyTask(2, 3), set()
    test = make_examples(task, random.Random(0), 200, seen)
    train = make_examples(task, random.Random(0), 2000, seen)  # the same seed: only the exclusion keeps them apart
    prompts = [decode(row[1 : task.prompt_length]) for row in (*test, *train)]
    assert len(set(prompts)) == 2200 and len(seen) == 2200


def test_the_same_seed_gives_the_same_examples():
    task = ToyTask()
    assert make_example(task, random.Random(7)) == make_example(task, random.Random(7))


def test_a_typed_prompt_is_checked_against_the_task():
    task = ToyTask(3, 3)
    assert parse_prompt(task, " ABC.def.ghi#bc ") == ("abc.def.ghi#bc", 0)
    assert parse_prompt(task, "abc.def.ghi#fd") == ("abc.def.ghi#fd", 1)


@pytest.mark.parametrize(("text", "says"), [
    ("abc.def.ghi", "one '#'"),
    ("abc.def#bc", "exactly 3 blocks of 3"),
    ("abc.defg.hi#bc", "exactly 3 blocks of 3"),
    ("abc.def.ghi#b", "exactly 2 after"),
    ("ab1.def.ghi#ab", "letters a-z"),
    ("abc.abd.ghi#ab", "here 2 do"),
    ("abc.def.ghi#xy", "here 0 do"),
])
def test_bad_prompts_say_what_is_wrong(text, says):
    with pytest.raises(PromptError, match=re.escape(says)):
        parse_prompt(ToyTask(3, 3), text)
