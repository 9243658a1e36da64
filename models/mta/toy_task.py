"""The MTA paper's toy task: find the one block of letters that holds both query letters.

An example is blocks of N random letters separated by '.', then '#' and the L query letters; exactly one
block holds every query letter, and the answer is that block ("all"), or its first or last letter. Attention
with one query and one key at a time struggles: it must match two letters at once. A key-query convolution
can look at neighbouring keys together.

Tokens are laid out as in the official code (facebookresearch/RAM, projects/mta/toy_task): a beginning
token, the prompt, the answer and an end token; the loss is on the answer and the end token only.

    ^ab.cd.ef#dc  ->  cd$   (N = 2, 3 blocks, L = 2, variant "all"; ^ and $ are BOS and EOS)
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Literal

import torch

LETTERS = string.ascii_lowercase
SEPARATOR, QUERY, BOS, EOS, PAD = ".", "#", "^", "$", "_"
VOCAB = (PAD, BOS, EOS, SEPARATOR, QUERY, *LETTERS)
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
Variant = Literal["all", "first", "last"]


@dataclass(frozen=True)
class ToyTask:
    """Sizes of the task: the paper uses N = 5 or 8, L = 2 and 52 blocks (319 characters)."""

    block_size: int = 5  # N
    blocks: int = 10  # the answer block and its distractors
    query_letters: int = 2  # L
    variant: Variant = "all"

    @property
    def prompt_length(self) -> int:
        return 1 + self.blocks * (self.block_size + 1) - 1 + 1 + self.query_letters  # BOS, blocks, '#', letters

    @property
    def answer_length(self) -> int:
        return self.block_size if self.variant == "all" else 1

    @property
    def sequence_length(self) -> int:
        return self.prompt_length + self.answer_length + 1  # + EOS

    def block_start(self, block: int) -> int:
        """Position of the first letter of block `block` in the tokens."""
        return 1 + block * (self.block_size + 1)


def make_example(task: ToyTask, rng: random.Random) -> tuple[str, str, int]:
    """(prompt, answer, index of the answer block): distinct blocks, exactly one holds all query letters."""
    n, count = task.block_size, task.blocks
    target_block = "".join(rng.sample(LETTERS, n))
    query = rng.sample(target_block, task.query_letters)
    blocks = {target_block}
    while len(blocks) < count:  # distractors never hold every query letter (as the official generator)
        sample = rng.sample(LETTERS, n)
        if not set(query) <= set(sample):
            blocks.add("".join(sample))
    order = sorted(blocks)
    rng.shuffle(order)
    answer = {"all": target_block, "first": target_block[0], "last": target_block[-1]}[task.variant]
    return SEPARATOR.join(order) + QUERY + "".join(query), answer, order.index(target_block)


def encode(text: str) -> list[int]:
    return [TOKEN_ID[ch] for ch in text]


def decode(ids: list[int] | torch.Tensor) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


def example_tokens(prompt: str, answer: str) -> list[int]:
    """BOS, prompt, answer, EOS as token ids."""
    return encode(BOS + prompt + answer + EOS)


def make_examples(task: ToyTask, rng: random.Random, size: int, exclude: set[str] | None = None) -> torch.Tensor:
    """`size` examples as tokens (size, T), uint8, no two with the same prompt, none whose prompt is in
    `exclude` (which is updated): a fixed training set disjoint from the test set, as the official data."""
    seen = set() if exclude is None else exclude
    rows = []
    while len(rows) < size:
        prompt, answer, _ = make_example(task, rng)
        if prompt not in seen:
            seen.add(prompt)
            rows.append(example_tokens(prompt, answer))
    return torch.tensor(rows, dtype=torch.uint8)


def training_targets(task: ToyTask, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token targets (B, T) for tokens (B, T): the answer and EOS, -100 (no loss) everywhere else."""
    tokens = tokens.long()
    targets = torch.full_like(tokens, -100)
    start = task.prompt_length  # the first answer token is predicted from the last query letter
    targets[:, start - 1 : -1] = tokens[:, start:]
    return targets


def make_batch(task: ToyTask, rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, T), targets (B, T)) for `size` new random examples."""
    tokens = make_examples(task, rng, size).long()
    return tokens, training_targets(task, tokens)


class PromptError(ValueError):
    """A typed prompt does not fit the task; the message says why, for the user."""


def parse_prompt(task: ToyTask, text: str) -> tuple[str, int]:
    """A typed prompt checked against the task's shape -> (prompt, index of the block holding the query).

    Accepts "abcde.fghij.…#xy"; the models were trained on one length, so the number of blocks and letters
    per block must match the ones they were trained on.
    """
    text = text.strip().lower()
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
    return body + QUERY + query, holding[0]
