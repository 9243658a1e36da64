"""A small causal transformer for the toy task, with or without Multi-Token Attention, and its training.

The paper's setup is 4 layers, 2 heads, width 256, 100k steps; here the defaults are smaller so a
run fits a 2-core CPU. MTA uses c_q = 2, c_k = 2N - 1, pre-softmax, keys padded on both sides,
identity initialisation, no head mixing (the paper's toy configuration).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from models.mta.kernels import MTAttention
from models.mta.toy_task import VOCAB, ToyTask, decode, encode, make_batch
from models.training import clipped_step, warmup_cosine


@dataclass(frozen=True)
class ToyModelConfig:
    """Everything needed to rebuild a model (saved beside its weights)."""

    sequence_length: int
    dim: int = 128
    layers: int = 4
    heads: int = 2
    kernel: tuple[int, int] | None = None  # (c_q, c_k): MTA's key-query convolution, in every layer
    vocab: int = len(VOCAB)


class Block(nn.Module):
    def __init__(self, config: ToyModelConfig, index: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(config.dim), nn.LayerNorm(config.dim)
        self.attention = MTAttention(config.dim, config.heads, index, kernel=config.kernel)
        hidden = 4 * config.dim
        self.mlp = nn.Sequential(nn.Linear(config.dim, hidden), nn.GELU(), nn.Linear(hidden, config.dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attention(self.norm1(x))
        x = x + attended
        return x + self.mlp(self.norm2(x)), weights


class ToyTransformer(nn.Module):
    """Token + learned position embeddings, pre-norm blocks, a tied output layer."""

    def __init__(self, config: ToyModelConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab, config.dim)
        self.positions = nn.Embedding(config.sequence_length, config.dim)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        for table in (self.tokens, self.positions):  # small, as in GPT-2: N(0, 1) tied logits start near ±dim
            nn.init.normal_(table.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """tokens (B, T) -> (logits (B, T, vocab), attention weights per layer (B, H, T, T))."""
        x = self.tokens(tokens) + self.positions(torch.arange(tokens.shape[1], device=tokens.device))
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


def error_rate(model: ToyTransformer, task: ToyTask, examples: int = 1000, seed: int = 12345) -> float:
    """Share of new examples whose greedy answer is not exactly the target block (or letter)."""
    tokens, _ = make_batch(task, random.Random(seed), examples)
    prompts, targets = tokens.split([task.prompt_length, task.answer_length], dim=1)
    wrong = (answer(model, task, prompts) != targets).any(-1)
    return wrong.float().mean().item()


def block_attention(maps: list[torch.Tensor], task: ToyTask, block: int) -> torch.Tensor:
    """Share of attention the '=' position pays to the answer block, per layer and head: (L, H).

    `maps` are one example's maps per layer (H, T, T). The layer where this share peaks is where the model
    finds the block: the answer is read from there.
    """
    start = block * (task.block_size + 1)
    rows = torch.stack([m[:, task.prompt_length - 1] for m in maps])  # (L, H, T): the '=' row of every head
    return rows[..., start : start + task.block_size].sum(-1)


def train(
    model: ToyTransformer,
    task: ToyTask,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: Callable[[int, float], None] = lambda step, loss: None,
) -> list[float]:
    """AdamW with warm-up and cosine decay; returns the loss of every step."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = warmup_cosine(optimizer, steps, warmup=max(1, steps // 20))
    losses = []
    model.train()
    for step in range(steps):
        tokens, targets = make_batch(task, rng, batch_size)
        loss = loss_on(model, tokens, targets)
        clipped_step(loss, optimizer, schedule)
        losses.append(loss.item())
        progress(step + 1, losses[-1])
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
    block_share: torch.Tensor  # (L, H) attention of the '=' position on the answer block
    found_layer: int  # the layer where that share, averaged over heads, peaks


@torch.no_grad()
def read_prompt(model: ToyTransformer, task: ToyTask, prompt: str, block: int) -> ToyReading:
    """Run one prompt: the greedy answer, every layer's maps and the layer where the block is found."""
    ids = torch.tensor([encode(prompt)])
    given = answer(model, task, ids)[0]
    _, maps = model(torch.cat([ids[0], given])[None])
    maps = [m[0] for m in maps]  # per layer (H, T, T); causal, so the '=' row is the prompt's own
    share = block_attention(maps, task, block)
    return ToyReading(decode(given), maps, share, int(share.mean(-1).argmax()))


def learned_kernels(model: ToyTransformer) -> list[torch.Tensor]:
    """Each layer's key-query kernels (H, c_q, c_k); empty for the baseline."""
    return [block.attention.kernel.detach() for block in model.blocks if block.attention.kernel is not None]

