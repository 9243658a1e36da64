"""One token through one head, by hand, from the recorded vectors; then the heads through W^O.

Every input comes from the captured forward pass (queries, keys, values after the model's own
projections and rotary embeddings). The hand computation is repeated here in plain torch and
compared with what the model computed, so the page can print the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from models.multihead import masked_softmax
from models.recording import LayerAttention

# where families keep W^O, relative to the module that calls attention (or to its parent)
_OWN_PROJECTIONS = ("o_proj", "out_proj", "c_proj", "dense")
_PARENT_PROJECTIONS = ("output.dense",)


def output_projection(model: nn.Module, attention_name: str) -> tuple[str, nn.Module] | None:
    """The linear layer that mixes the concatenated heads (W^O) of the attention module `attention_name`."""
    modules = dict(model.named_modules())
    parent = attention_name.rpartition(".")[0]
    candidates = [f"{attention_name}.{p}" for p in _OWN_PROJECTIONS] + [f"{parent}.{p}" for p in _PARENT_PROJECTIONS]
    for name in candidates:
        module = modules.get(name)
        if isinstance(module, (nn.Linear, Conv1D)):
            return name, module
    return None


def _project(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x W^O + b written out: nn.Linear stores W^O transposed, GPT-2's Conv1D does not."""
    weight = module.weight.detach().to("cpu", torch.float64)
    product = x @ (weight.T if isinstance(module, nn.Linear) else weight)
    return product if module.bias is None else product + module.bias.detach().to("cpu", torch.float64)


@dataclass(frozen=True)
class HeadStep:
    """One query token in one head: q, K, V, scores, weights and output, by hand and from the model."""

    query: torch.Tensor  # (d,)
    keys: torch.Tensor  # (Tk, d)
    values: torch.Tensor  # (Tk, d)
    allowed: torch.Tensor  # (Tk,) bool
    raw_scores: torch.Tensor  # (Tk,) q.k
    scaling: float  # the model's factor, 1/sqrt(d) unless it says otherwise
    weights: torch.Tensor  # (Tk,) softmax(raw * scaling + mask), by hand
    model_weights: torch.Tensor  # (Tk,) the captured row
    output: torch.Tensor  # (d,) weights @ values, by hand
    model_output: torch.Tensor  # (d,) what the model's attention call returned for this head
    unscaled_weights: torch.Tensor  # (Tk,) softmax(raw + mask): what skipping the scaling would give
    kv_head: int  # which key/value head this query head reads (grouped-query attention)

    @property
    def scaled_scores(self) -> torch.Tensor:
        return self.raw_scores * self.scaling

    @property
    def scaled_by_sqrt_d(self) -> bool:
        """Whether the model scales by 1/sqrt(d), as in Attention Is All You Need."""
        return abs(self.scaling - self.query.numel() ** -0.5) < 1e-9

    @property
    def weights_error(self) -> float:
        return (self.weights - self.model_weights).abs().max().item()

    @property
    def output_error(self) -> float:
        return (self.output - self.model_output).abs().max().item()


@dataclass(frozen=True)
class ScoreVariance:
    """Seed 002's argument measured on this head: var(q.k) grows with d; dividing by sqrt(d) undoes it."""

    query_component: float  # variance of the query vectors' components
    key_component: float
    raw: float  # variance of q.k over every allowed (query, key) pair of the head
    scaled: float  # the same after multiplying by the scaling


@dataclass(frozen=True)
class Walkthrough:
    """Everything the page shows for (layer, head, token)."""

    head: HeadStep
    variance: ScoreVariance
    num_heads: int
    head_dim: int
    concat: torch.Tensor  # (H*d,) every head's hand output for this token, side by side
    model_concat: torch.Tensor  # (H*d,) the model's own
    projection_name: str | None  # module holding W^O, when the family keeps one we recognise
    projection_shape: tuple[int, int] | None  # (H*d, d_out)
    projected: torch.Tensor | None  # (d_out,) concat W^O + b, by hand
    model_projected: torch.Tensor | None  # (d_out,) the model's W^O module applied to its own concat

    @property
    def concat_error(self) -> float:
        return (self.concat - self.model_concat).abs().max().item()

    @property
    def projection_error(self) -> float | None:
        if self.projected is None:
            return None
        return (self.projected - self.model_projected).abs().max().item()


def _head_step(layer: LayerAttention, head: int, token: int) -> HeadStep:
    kv_head = head // (layer.query.shape[0] // layer.key.shape[0])
    # only this head's slices, in float64: (d,), (Tk, d), (Tk, d)
    query, keys, values = layer.query[head, token].double(), layer.key[kv_head].double(), layer.value[kv_head].double()
    allowed = layer.allowed[token]
    raw = keys @ query  # (Tk,)
    weights = masked_softmax(raw * layer.scaling, allowed)
    return HeadStep(
        query=query, keys=keys, values=values, allowed=allowed, raw_scores=raw, scaling=layer.scaling,
        weights=weights, model_weights=layer.weights[head, token].double(),
        output=weights @ values, model_output=layer.context[token, head].double(),
        unscaled_weights=masked_softmax(raw, allowed), kv_head=kv_head,
    )


def _score_variance(layer: LayerAttention, head: int, kv_head: int) -> ScoreVariance:
    q, k = layer.query[head].double(), layer.key[kv_head].double()  # (Tq, d), (Tk, d)
    raw = (q @ k.T)[layer.allowed]  # every allowed pair
    return ScoreVariance(
        query_component=q.var().item(), key_component=k.var().item(),
        raw=raw.var().item(), scaled=(raw * layer.scaling).var().item(),
    )


def attention_walkthrough(model: nn.Module, layer: LayerAttention, head: int, token: int) -> Walkthrough:
    """Recompute `token`'s output in `head` of `layer` by hand, then all heads through W^O."""
    if layer.query is None or layer.context is None:
        raise ValueError(f"{layer.name} was recorded without its query/key/value vectors")
    step = _head_step(layer, head, token)
    num_heads, _, head_dim = layer.query.shape
    concat = torch.cat([_head_step(layer, h, token).output for h in range(num_heads)])  # (H*d,)
    model_concat = layer.context[token].double().reshape(-1)  # (H*d,)
    found = output_projection(model, layer.name)
    projected = model_projected = shape = None
    if found is not None:
        module = found[1]
        projected = _project(module, concat)
        with torch.inference_mode():
            model_projected = module(layer.context[token].reshape(1, -1).to(module.weight)).double().cpu()[0]
        shape = (concat.numel(), projected.numel())
    return Walkthrough(
        head=step, variance=_score_variance(layer, head, step.kv_head), num_heads=num_heads,
        head_dim=head_dim, concat=concat, model_concat=model_concat,
        projection_name=found[0] if found else None, projection_shape=shape,
        projected=projected, model_projected=model_projected,
    )
