"""Photo search with the head or the backbone's own pooling: embed, index, rank, score recall."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from models.engine.loading import LoadedModel
from models.head.features import backbone_tokens, token_grid
from models.head.focus import head_focus
from models.head.head import AttentionHead, HeadOutput
from models.head.views import Item, item_image, random_box


def baseline_embeddings(tokens: torch.Tensor, first_patch: int) -> dict[str, torch.Tensor]:
    """The backbone's own embeddings, unit rows: its CLS token and the mean of its patch tokens."""
    return {"CLS": F.normalize(tokens[:, 0], dim=-1),
            "mean of patches": F.normalize(tokens[:, first_patch:].mean(1), dim=-1)}


@torch.no_grad()
def head_output(head: AttentionHead, tokens: torch.Tensor, batch_size: int = 64) -> HeadOutput:
    """The head on many examples, in batches, gathered into one HeadOutput."""
    device = next(head.parameters()).device
    outs = [head(tokens[i : i + batch_size].float().to(device)) for i in range(0, len(tokens), batch_size)]
    return HeadOutput(
        {size: torch.cat([o.embeddings[size] for o in outs]).cpu() for size in head.config.sizes},
        torch.cat([o.pooling for o in outs]).cpu(), torch.cat([o.kept for o in outs]).cpu(),
        torch.cat([o.received for o in outs]).cpu(),
    )


def rank(queries: torch.Tensor, index: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k index rows by cosine similarity for unit rows: (scores (Q, k), positions (Q, k))."""
    return (queries @ index.T).topk(min(k, index.shape[0]), dim=-1)


def recall_at(queries: torch.Tensor, index: torch.Tensor, truth: torch.Tensor, ks: tuple[int, ...]) -> dict[int, float]:
    """Share of queries whose true index row is among the k nearest, for each k."""
    _, found = rank(queries, index, max(ks))
    hit = found == truth[:, None]  # (Q, k)
    return {k: hit[:, :k].any(-1).float().mean().item() for k in ks}


@dataclass
class PhotoIndex:
    """Photos embedded by the head (every Matryoshka size) with the head's maps, ready to be searched."""

    names: list[str]
    tokens: torch.Tensor  # (I, N, C) backbone tokens, float16
    output: HeadOutput
    grid: tuple[int, int, int]  # first patch token, rows, cols
    anchored: bool

    def focus(self, position: int) -> torch.Tensor:
        """Where the head looks in one indexed photo, mean of its pooling heads: (rows, cols)."""
        return head_focus(self.output, position, *self.grid, self.anchored).mean(0)

    def search(self, query: HeadOutput, size: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores (k,), positions (k,)) of the nearest photos to the first query, at one size."""
        scores, found = rank(query.embeddings[size][:1], self.output.embeddings[size], k)
        return scores[0], found[0]


def build_index(loaded: LoadedModel, head: AttentionHead, names: list[str], images) -> PhotoIndex:
    """Embed square images (already at the backbone's input size) into a PhotoIndex."""
    tokens = backbone_tokens(loaded, list(images))
    return PhotoIndex(list(names), tokens.half(), head_output(head, tokens), token_grid(loaded, tokens),
                      head.anchor is not None)


def index_entries(names: list[str], photos, crops_per_photo: int, size: int, seed: int = 0,
                  area: tuple[float, float] = (0.1, 0.35)) -> tuple[list[str], list]:
    """Each photo whole and `crops_per_photo` random crops of it, as square images: (labels, images)."""
    rng = random.Random(seed)
    labels, images = [], []
    for number, (name, photo) in enumerate(zip(names, photos, strict=True)):
        whole = Item(number, (0, 0, *photo.size))
        labels.append(name)
        images.append(item_image(photos, whole, size))
        for k in range(crops_per_photo):
            item = Item(number, random_box(*photo.size, rng, area))
            labels.append(f"{name} · crop {k + 1}")
            images.append(item_image(photos, item, size))
    return labels, images
