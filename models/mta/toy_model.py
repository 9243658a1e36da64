"""A small causal transformer for the toy task, with or without Multi-Token Attention, and its training.

Built as the official toy model (facebookresearch/RAM, projects/mta, lingua's transformer): pre-norm RMSNorm
blocks, SwiGLU feed-forward, rotary positions (theta 100 000), attention dropout 0.1, tied embeddings,
truncated-normal initialisation with std dim^-1/2. MTA uses c_q = 2, c_k = 2N - 1, pre-softmax, keys padded on
both sides, identity initialisation, no head mixing (the official toy configuration). Only the sizes are
smaller, so that a run fits a 2-core CPU.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from models.mta.kernels import MTAttention
from models.mta.toy_task import VOCAB, ToyTask, decode, example_tokens, training_targets


@dataclass(frozen=True)
class ToyModelConfig:
    """Everything needed to rebuild a model (saved beside its weights)."""

    sequence_length: int
    dim: int = 256
    layers: int = 4
    heads: int = 2
    kernel: tuple[int, int] | None = None  # (c_q, c_k): MTA's key-query convolution, in every layer
    rope_theta: float = 100_000.0
    dropout: float = 0.1  # on the attention weights, while training
    vocab: int = len(VOCAB)

    @property
    def hidden(self) -> int:
        """SwiGLU width as lingua computes it: 2/3 of 4 * dim, rounded up to a multiple of 256."""
        return 256 * math.ceil(int(2 * 4 * self.dim / 3) / 256)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(dim)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.pow(2).mean(-1, keepdim=True).add(self.eps).rsqrt() * self.weight


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate, self.up = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, config: ToyModelConfig, index: int):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(config.dim), RMSNorm(config.dim)
        self.attention = MTAttention(config.dim, config.heads, index, kernel=config.kernel,
                                     rope_theta=config.rope_theta, dropout=config.dropout)
        self.mlp = SwiGLU(config.dim, config.hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attention(self.norm1(x))
        x = x + attended
        return x + self.mlp(self.norm2(x)), weights


class ToyTransformer(nn.Module):
    """Token embeddings, pre-norm blocks with rotary positions, a tied output layer."""

    def __init__(self, config: ToyModelConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab, config.dim)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.layers))
        self.norm = RMSNorm(config.dim)
        std = config.dim ** -0.5  # lingua: every weight N(0, dim^-1/2) truncated at 3 std; MTA blocks stay identity
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.trunc_normal_(module.weight, std=std, a=-3 * std, b=3 * std)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """tokens (B, T) -> (logits (B, T, vocab), attention weights per layer (B, H, T, T))."""
        x = self.tokens(tokens)
        maps = []
        for block in self.blocks:
            x, weights = block(x)
            maps.append(weights)
        return self.norm(x) @ self.tokens.weight.T, maps


def loss_on(model: ToyTransformer, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits, _ = model(tokens)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


@torch.no_grad()
def answer(model: ToyTransformer, task: ToyTask, prompts: torch.Tensor) -> torch.Tensor:
    """Greedy answers (B, answer_length) to prompts (B, prompt_length): each token fed back in."""
    model.eval()
    tokens = prompts
    for _ in range(task.answer_length):
        logits, _ = model(tokens)
        tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return tokens[:, task.prompt_length :]


def prompt_blocks(task: ToyTask, prompts: torch.Tensor) -> torch.Tensor:
    """Every block of each prompt (B, prompt_length) -> (B, blocks, N)."""
    starts = torch.tensor([task.block_start(i) for i in range(task.blocks)])
    return prompts[:, starts[:, None] + torch.arange(task.block_size)]


RATES = ("error", "located", "copied")
OUTCOMES = ("right", "another block", "first letter only", "no block")


@torch.no_grad()
def graded_answers(model: ToyTransformer, task: ToyTask, tokens: torch.Tensor,
                   batch: int = 500) -> dict[str, torch.Tensor]:
    """On examples (B, T), each greedy answer graded three ways: {rate: (B,) bool}.

    error: not exactly the target (the paper's metric); located: its first letter is the target's;
    copied: it is the corresponding part (all, first or last letter) of some block of the prompt.
    """
    graded = {rate: [] for rate in RATES}
    for rows in tokens.long().split(batch):
        prompts, targets = rows[:, : task.prompt_length], rows[:, task.prompt_length : -1]
        given = answer(model, task, prompts)  # (B, answer_length)
        blocks = prompt_blocks(task, prompts)  # (B, blocks, N)
        parts = {"all": blocks, "first": blocks[..., :1], "last": blocks[..., -1:]}[task.variant]
        graded["error"].append((given != targets).any(-1))
        graded["located"].append(given[:, 0] == targets[:, 0])
        graded["copied"].append((parts == given[:, None]).all(-1).any(-1))
    return {rate: torch.cat(values) for rate, values in graded.items()}


def answer_rates(model: ToyTransformer, task: ToyTask, tokens: torch.Tensor) -> dict[str, float]:
    """The three rates of `graded_answers` over examples (B, T)."""
    return {rate: int(values.sum()) / len(values) for rate, values in graded_answers(model, task, tokens).items()}


def answer_outcomes(model: ToyTransformer, task: ToyTask, tokens: torch.Tensor) -> list[str]:
    """Each example's outcome, one of OUTCOMES: right, another block copied, only the first letter right, or none."""
    graded = graded_answers(model, task, tokens)
    return [OUTCOMES[0] if not wrong else OUTCOMES[1] if copied else OUTCOMES[2] if located else OUTCOMES[3]
            for wrong, located, copied in zip(*(graded[rate].tolist() for rate in RATES), strict=True)]


def typical_example(outcomes: list[list[str]]) -> int | None:
    """The first example where every model's outcome is its most frequent one (None if there is none)."""
    modes = [max(OUTCOMES, key=model.count) for model in outcomes]
    for index, row in enumerate(zip(*outcomes, strict=True)):
        if list(row) == modes:
            return index
    return None


def block_attention(maps: list[torch.Tensor], task: ToyTask, block: int) -> torch.Tensor:
    """Share of attention the last prompt position pays to the answer block, per layer and head: (L, H).

    `maps` are one example's maps per layer (H, T, T). The layer where this share peaks is where the model
    finds the block: the answer is read from there.
    """
    start = task.block_start(block)
    rows = torch.stack([m[:, task.prompt_length - 1] for m in maps])  # (L, H, T): the last query letter's rows
    return rows[..., start : start + task.block_size].sum(-1)


class ToyTraining:
    """The official optimiser (AdamW, beta2 0.98, no weight decay, linear warm-up then constant, clip 1.0) over a
    fixed training set read in a seeded order; its whole state saves and loads, so a cut run resumes exactly."""

    def __init__(self, model: ToyTransformer, task: ToyTask, data: torch.Tensor, batch_size: int = 64,
                 lr: float = 1e-4, warmup: int = 1000, seed: int = 0):
        self.model, self.task, self.data, self.batch_size, self.seed = model, task, data, batch_size, seed
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warmup))
        self.step_count = 0
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def _batch(self) -> torch.Tensor:
        """The examples of this step: the training set in a fresh seeded order each epoch."""
        first = self.step_count * self.batch_size
        indices = []
        for position in range(first, first + self.batch_size):
            epoch, index = divmod(position, len(self.data))
            if epoch != self._epoch:
                self._epoch = epoch
                self._order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.seed + epoch))
            indices.append(int(self._order[index]))
        return self.data[indices].long()

    def step(self) -> float:
        """One optimiser step; returns its loss."""
        self.model.train()
        tokens = self._batch()
        loss = loss_on(self.model, tokens, training_targets(self.task, tokens))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.step_count += 1
        return loss.item()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "step": self.step_count, "rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.step_count = state["step"]
        torch.set_rng_state(state["rng"])  # dropout continues as if never cut


def train(model: ToyTransformer, task: ToyTask, data: torch.Tensor, steps: int, batch_size: int = 64,
          lr: float = 1e-4, warmup: int = 1000, seed: int = 0,
          progress: Callable[[int, float], None] = lambda step, loss: None) -> list[float]:
    """Train `steps` steps from scratch on `data` (B, T); returns the loss of every step."""
    torch.manual_seed(seed)
    training = ToyTraining(model, task, data, batch_size, lr, warmup, seed)
    losses = []
    while training.step_count < steps:
        losses.append(training.step())
        progress(training.step_count, losses[-1])
    model.eval()
    return losses


def save_toy_model(model: ToyTransformer, task: ToyTask, folder: Path) -> Path:
    """Weights (safetensors) and the model and task configs (JSON) in `folder`."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model": asdict(model.config), "task": asdict(task)}, indent=1))
    return folder


def load_toy_model(folder: Path) -> tuple[ToyTransformer, ToyTask]:
    """The model and task saved by save_toy_model, ready to run."""
    from safetensors.torch import load_file

    saved = json.loads((folder / "config.json").read_text())
    config = saved["model"]
    config["kernel"] = tuple(config["kernel"]) if config["kernel"] else None
    model = ToyTransformer(ToyModelConfig(**config))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval(), ToyTask(**saved["task"])


@dataclass(frozen=True)
class ToyReading:
    """What a trained model does with one prompt: its answer and where it found the block."""

    answer: str
    maps: list[torch.Tensor]  # per layer (H, T, T), on the prompt and the answer it gave
    block_share: torch.Tensor  # (L, H) attention of the last prompt position on the answer block
    found_layer: int  # the layer where that share, averaged over heads, peaks


@torch.no_grad()
def read_prompt(model: ToyTransformer, task: ToyTask, prompt: str, block: int) -> ToyReading:
    """Run one prompt: the greedy answer, every layer's maps and the layer where the block is found."""
    ids = torch.tensor([example_tokens(prompt, "")[:-1]])  # BOS and the prompt
    given = answer(model, task, ids)[0]
    _, maps = model(torch.cat([ids[0], given])[None])
    maps = [m[0] for m in maps]  # per layer (H, T, T); causal, so the prompt's rows are its own
    share = block_attention(maps, task, block)
    return ToyReading(decode(given), maps, share, int(share.mean(-1).argmax()))


def learned_kernels(model: ToyTransformer) -> list[torch.Tensor]:
    """Each layer's key-query kernels (H, c_q, c_k); empty for the baseline."""
    return [block.attention.kernel.detach() for block in model.blocks if block.attention.kernel is not None]

