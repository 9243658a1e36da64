"""The MTA paper's toy task: find the one block of letters that holds both query letters.

An example is blocks of N random letters separated by '.', then '#', the L query letters and
'='; exactly one block holds every query letter, and the answer is that block ("all"), or its
first or last letter. Attention with one query and one key at a time struggles: it must match two
letters at once. A key-query convolution can look at neighbouring keys together.

    ab.cd.ef#cd=  ->  cd   (N = 2, 3 blocks, L = 2, variant "all")
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Literal

import torch

LETTERS = string.ascii_lowercase
SEPARATOR, QUERY, ANSWER, PAD = ".", "#", "=", "_"
VOCAB = (PAD, SEPARATOR, QUERY, ANSWER, *LETTERS)
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
Variant = Literal["all", "first", "last"]


@dataclass(frozen=True)
class ToyTask:
    """Sizes of the task: the paper uses N = 5 or 8, L = 2 and sequences of 319 tokens."""

    block_size: int = 5  # N
    blocks: int = 10  # the answer block and its distractors
    query_letters: int = 2  # L
    variant: Variant = "all"

    @property
    def prompt_length(self) -> int:
        return self.blocks * (self.block_size + 1) - 1 + 1 + self.query_letters + 1  # blocks, '#', letters, '='

    @property
    def answer_length(self) -> int:
        return self.block_size if self.variant == "all" else 1

    @property
    def sequence_length(self) -> int:
        return self.prompt_length + self.answer_length


def make_example(task: ToyTask, rng: random.Random) -> tuple[str, str, int]:
    """(prompt, answer, index of the answer block): exactly one block holds all query letters."""
    n, count = task.block_size, task.blocks
    blocks = ["".join(rng.sample(LETTERS, n)) for _ in range(count)]
    target = rng.randrange(count)
    query = rng.sample(blocks[target], task.query_letters)
    for i in range(count):  # no distractor may also hold every query letter
        while i != target and all(letter in blocks[i] for letter in query):
            blocks[i] = "".join(rng.sample(LETTERS, n))
    block = blocks[target]
    answer = {"all": block, "first": block[0], "last": block[-1]}[task.variant]
    return SEPARATOR.join(blocks) + QUERY + "".join(query) + ANSWER, answer, target


def encode(text: str) -> list[int]:
    return [TOKEN_ID[ch] for ch in text]


def decode(ids: list[int] | torch.Tensor) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


def make_batch(task: ToyTask, rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, T), targets (B, T)): next-token targets, -100 everywhere but the answer positions."""
    rows = [make_example(task, rng) for _ in range(size)]
    tokens = torch.tensor([encode(prompt + answer) for prompt, answer, _ in rows])  # (B, T)
    targets = torch.full_like(tokens, -100)
    start = task.prompt_length  # the first answer token is predicted from the '=' position
    targets[:, start - 1 : start - 1 + task.answer_length] = tokens[:, start : start + task.answer_length]
    return tokens, targets


class PromptError(ValueError):
    """A typed prompt does not fit the task; the message says why, for the user."""


def parse_prompt(task: ToyTask, text: str) -> tuple[str, int]:
    """A typed prompt checked against the task's shape -> (prompt, index of the block holding the query).

    Accepts "abcde.fghij.…#xy" with or without the final '='; the model's positions are fixed, so the
    number of blocks and letters per block must match the ones it was trained on.
    """
    text = text.strip().lower().removesuffix(ANSWER)
    if text.count(QUERY) != 1:
        raise PromptError(f"Write the blocks, then one '{QUERY}' and the {task.query_letters} query letters.")
    body, query = text.split(QUERY)
    blocks = body.split(SEPARATOR)
    if len(blocks) != task.blocks or any(len(b) != task.block_size for b in blocks):
        raise PromptError(f"These models read exactly {task.blocks} blocks of {task.block_size} letters, "
                          f"separated by '{SEPARATOR}'.")
    if len(query) != task.query_letters or any(ch not in LETTERS for ch in body.replace(SEPARATOR, "") + query):
        raise PromptError(f"Use the letters a-z only, and exactly {task.query_letters} after '{QUERY}'.")
    holding = [i for i, b in enumerate(blocks) if all(ch in b for ch in query)]
    if len(holding) != 1:
        raise PromptError(f"Exactly one block must hold every query letter; here {len(holding)} do.")
    return body + QUERY + query + ANSWER, holding[0]

