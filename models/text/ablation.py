"""Heads removed and the input run again: what changes in the model's output and in the later layers' maps.

Removing means zeroing a head's output before the output projection (Michel et al. 2019) or replacing it by its
mean over the positions each position may attend to (mean-ablation), through models.engine.ablation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from models.engine.ablation import ablating
from models.engine.capture import AttentionCapture, CaptureError, capture_encoded
from models.engine.loading import LoadedModel
from models.text.comparison import layer_variations


@dataclass(frozen=True)
class Ablation:
    """One input with and without some heads: both captures and how far apart they are."""

    heads: tuple[tuple[int, int], ...]  # (layer, head) removed
    mean: bool
    original: AttentionCapture
    ablated: AttentionCapture
    map_change: torch.Tensor  # (L, H): mean over queries of the total variation between the two rows
    next_token: tuple[torch.Tensor, torch.Tensor] | None  # decoders: last position's probabilities (V,) both ways
    embedding_cosine: float | None  # encoders: cosine between the mean-pooled last hidden states

    @property
    def first_layer(self) -> int:
        """The first layer with a removed head: maps before it cannot change."""
        return min(layer for layer, _ in self.heads)

    @property
    def nbytes(self) -> int:
        extra = sum(p.nbytes for p in self.next_token) if self.next_token else 0
        return self.original.nbytes + self.ablated.nbytes + self.map_change.nbytes + extra

    def map_difference(self, layer: int, head: int) -> torch.Tensor:
        """(Tq, Tk) removed − original for one head."""
        return self.ablated.layers[layer].head_weights(head) - self.original.layers[layer].head_weights(head)

    def top_next_tokens(self, k: int = 8) -> list[tuple[int, float, float]]:
        """(token id, probability before, after) for the union of both runs' k most probable next tokens."""
        if self.next_token is None:
            return []
        before, after = self.next_token
        ids = dict.fromkeys([*torch.topk(before, k).indices.tolist(), *torch.topk(after, k).indices.tolist()])
        return sorted(((i, float(before[i]), float(after[i])) for i in ids), key=lambda row: -max(row[1:]))

    def kl_divergence(self) -> float | None:
        """KL(original ‖ ablated) of the next-token distribution, in nats (decoders)."""
        if self.next_token is None:
            return None
        p, q = self.next_token
        return float((p * (p.clamp_min(1e-30).log() - q.clamp_min(1e-30).log())).sum())


def ablate_heads(loaded: LoadedModel, original: AttentionCapture, encoded: dict[str, torch.Tensor],
                 heads: Iterable[tuple[int, int]], mean: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> Ablation:
    """Run `encoded` (the input of `original`) again with `heads` removed; compare the two runs, reporting
    `progress(layers compared, layers)`."""
    heads = tuple(sorted(set(heads)))
    if not heads:
        raise CaptureError("Choose at least one head to remove.")
    if not loaded.exposes_scores:
        raise CaptureError(f"{loaded.name} computes attention in its own code: its heads cannot be removed here.")
    num_heads = original.num_heads
    keep: dict[str, torch.Tensor] = {}
    for layer, head in heads:
        name = original.layers[layer].name
        keep.setdefault(name, torch.ones(1, num_heads, device=loaded.device))[0, head] = 0.0
    with ablating(loaded.model, keep, mean=mean):  # on the original's kernel: the layers before the first removed
        # head then give exactly the original's maps
        ablated = capture_encoded(loaded, encoded, pair=original.segments is not None,
                                  overview=original.overview is not None)
    # total variation between each query's two rows, averaged over queries: 0 = unchanged, 1 = disjoint
    change = layer_variations(original.layers, ablated.layers, progress=progress)  # (L, H)
    next_token = cosine = None
    if loaded.lm_head is not None:
        lm = loaded.lm_head.detach().to("cpu", torch.float32)
        next_token = tuple(torch.softmax(c.hidden[-1].float() @ lm.T, -1) for c in (original, ablated))
    elif original.hidden is not None:
        cosine = float(torch.nn.functional.cosine_similarity(original.hidden.mean(0), ablated.hidden.mean(0), dim=0))
    return Ablation(heads, mean, original, ablated, change, next_token, cosine)
