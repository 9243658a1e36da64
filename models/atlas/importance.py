"""Head importance: how much the model's own objective worsens when one head's output is zeroed before the
output projection (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"; Voita et al. 2019).

Language models: the rise of the next-token loss. Encoders without an LM head (MiniLM): 1 − cosine between
the mean-pooled sentence embeddings with and without the head (the pooling sentence-transformers uses).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.engine.ablation import ablating
from models.engine.loading import LoadedModel


def _objective(loaded: LoadedModel, hidden: torch.Tensor, ids: torch.Tensor, baseline: torch.Tensor | None):
    """Per batch item: next-token loss (tied LM head), or 1 − cos to `baseline`'s pooled embedding."""
    lm = loaded.lm_head
    if lm is not None:
        logits = hidden[:, :-1] @ lm.T  # (B, T-1, V)
        targets = ids[:, 1:].expand(hidden.shape[0], -1)
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(-1)  # (B,)
    pooled = hidden.mean(1)  # (B, C)
    return pooled if baseline is None else 1 - F.cosine_similarity(pooled, baseline, dim=-1)


def importance_kind(loaded: LoadedModel) -> str | None:
    """What importance means for this model, or None when it cannot be measured (weights-only models)."""
    if not loaded.exposes_scores:
        return None
    return "next-token loss rise" if loaded.lm_head is not None else "1 − cosine of the pooled embedding"


def head_importance(loaded: LoadedModel, encoded: dict[str, torch.Tensor], layer_names: list[str]) -> np.ndarray:
    """(L, H): per layer, one batched forward pass with each head silenced in its own batch item."""
    model = loaded.model
    inputs = {k: v.to(loaded.device) for k, v in encoded.items()}
    ids = inputs["input_ids"]
    with torch.inference_mode():
        hidden = model(**inputs).last_hidden_state  # (1, T, C)
        base = _objective(loaded, hidden, ids, None)
        rows = []
        for name in layer_names:
            heads = model.config.num_attention_heads
            batch = {k: v.expand(heads, *v.shape[1:]) for k, v in inputs.items()}
            keep = 1 - torch.eye(heads, device=loaded.device)  # item h silences head h
            with ablating(model, {name: keep}):
                silenced = model(**batch).last_hidden_state  # (H, T, C)
            if loaded.lm_head is not None:
                rows.append((_objective(loaded, silenced, ids, None) - base).cpu().numpy())
            else:
                rows.append(_objective(loaded, silenced, ids, base).cpu().numpy())
    return np.stack(rows).astype(np.float64)
