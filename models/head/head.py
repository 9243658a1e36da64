"""The whole Attention Head, its configuration and its checkpoint (safetensors + config.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from models.head.anchor import AnchorToken
from models.head.attention_norm import AttentionNorm
from models.head.matryoshka import MatryoshkaProjection
from models.head.pooling import AttentionPooling
from models.head.reducer import TokenReducer


@dataclass(frozen=True)
class HeadConfig:
    """Sizes of the head; `backbone` names the model whose tokens it reads."""

    dim: int  # C, the backbone's width
    keep: int = 64  # M, tokens after the reducer (257 -> 64 for DINOv2 at 224 px)
    heads: int = 6
    sizes: tuple[int, ...] = (64, 128, 256, 512)  # Matryoshka prefixes; the last is D
    anchor: bool = True
    backbone: str = ""

    @property
    def embedding_dim(self) -> int:
        return self.sizes[-1]


@dataclass
class HeadOutput:
    embeddings: dict[int, torch.Tensor]  # size -> unit vectors (B, size)
    pooling: torch.Tensor  # (B, H, M [+ 1]): per pooling head over the reduced tokens [, anchor last]
    kept: torch.Tensor  # (B, M - 1) backbone token positions the reducer kept
    received: torch.Tensor  # (B, N) attention each backbone token received in the reducer


class AttentionHead(nn.Module):
    """backbone tokens (B, N, C) -> Matryoshka embeddings, with every attention map along the way."""

    def __init__(self, config: HeadConfig):
        super().__init__()
        self.config = config
        self.reducer = TokenReducer(config.dim, config.heads, config.keep)
        self.attention_norm = AttentionNorm(config.dim, config.heads)
        self.anchor = AnchorToken(config.dim) if config.anchor else None
        self.pooling = AttentionPooling(config.dim, config.heads)
        self.projection = MatryoshkaProjection(config.dim, config.sizes)

    def forward(self, tokens: torch.Tensor) -> HeadOutput:
        reduced = self.reducer(tokens)  # (B, M, C)
        mixed, _ = self.attention_norm(reduced.tokens)  # (B, M, C)
        anchor = None if self.anchor is None else self.anchor(tokens.shape[0])  # (B, 1, C)
        pooled, weights = self.pooling(mixed, anchor)  # (B, C), (B, H, M [+ 1])
        return HeadOutput(self.projection(pooled), weights, reduced.kept, reduced.received)

    def anchor_share(self, output: HeadOutput) -> torch.Tensor | None:
        """Per example and pooling head, the weight on the anchor: (B, H); None without an anchor."""
        return None if self.anchor is None else output.pooling[..., -1]


class HeadLoadError(ValueError):
    """A head checkpoint is missing pieces or was written by another version; the message says so."""


def save_head(head: AttentionHead, folder: Path, extra: dict | None = None) -> Path:
    """Weights (anchor included) as safetensors and the config (plus `extra`, e.g. training args) as JSON."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(folder / "head.safetensors"))
    (folder / "config.json").write_text(json.dumps({"head": asdict(head.config), **(extra or {})}, indent=1))
    return folder


def load_head(folder: Path) -> tuple[AttentionHead, dict]:
    """The head saved by save_head, in eval mode, and everything else its config.json holds."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        saved = json.loads((Path(folder) / "config.json").read_text())
        config = saved.pop("head")
        head = AttentionHead(HeadConfig(**{**config, "sizes": tuple(config["sizes"])}))
        head.load_state_dict(load_file(str(Path(folder) / "head.safetensors")))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        raise HeadLoadError(f"{folder} does not hold a head this version can load ({reason}). "
                            "Train one with `python -m models.head.train`.") from error
    return head.eval(), saved


def patch_entropy(output: HeadOutput, anchored: bool) -> torch.Tensor:
    """Entropy in bits of each pooling head's weights over the reduced tokens, anchor left out: (B, H).

    Low entropy is collapse: the head piles its weight onto a few tokens. With an anchor, the patch
    weights are renormalised first, so anchored and unanchored heads are compared on the same tokens.
    """
    weights = output.pooling[..., :-1] if anchored else output.pooling
    weights = weights / weights.sum(-1, keepdim=True)
    return -(weights * weights.clamp_min(1e-12).log2()).sum(-1)
