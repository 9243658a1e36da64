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

from models.engine.precision import float32_tolerance
from models.engine.recording import LayerAttention, masked_softmax, pre_softmax, row_blocks

# where families keep W^O, relative to the module that calls attention (or to its parent)
_OWN_PROJECTIONS = ("o_proj", "out_proj", "c_proj", "dense", "o")  # "o": T5
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


def _project(module: nn.Module, x: torch.Tensor, magnitudes: bool = False) -> torch.Tensor:
    """x W^O + b written out (nn.Linear stores W^O transposed, GPT-2's Conv1D does not); with
    `magnitudes`, |x| |W^O| + |b|: the size of the terms each output sums."""
    weight, bias = module.weight.detach().to("cpu", torch.float64), module.bias
    bias = None if bias is None else bias.detach().to("cpu", torch.float64)
    if magnitudes:
        weight, bias = weight.abs(), None if bias is None else bias.abs()
    product = x @ (weight.T if isinstance(module, nn.Linear) else weight)
    return product if bias is None else product + bias


@dataclass(frozen=True)
class HeadStep:
    """One query token in one head: q, K, V, scores, weights and output, by hand and from the model."""

    query: torch.Tensor  # (d,)
    keys: torch.Tensor  # (Tk, d)
    values: torch.Tensor  # (Tk, d)
    allowed: torch.Tensor  # (Tk,) bool
    raw_scores: torch.Tensor  # (Tk,) q.k
    scaling: float  # the model's factor, 1/sqrt(d) unless it says otherwise
    softcap: float | None  # Gemma 2: scores become cap * tanh(scores / cap)
    bias: torch.Tensor | None  # (Tk,) additive bias the model adds (ALiBi, relative positions)
    sink: float | None  # GPT-OSS: this head's sink logit, one more softmax column, dropped after
    weights: torch.Tensor  # (Tk,) softmax(scores + mask), by hand
    model_weights: torch.Tensor  # (Tk,) the row as the capture computes it from the recorded q and k
    output: torch.Tensor  # (d,) weights @ values, by hand
    model_output: torch.Tensor  # (d,) what the model's attention call returned for this head
    unscaled_weights: torch.Tensor  # (Tk,) softmax(raw + mask): what skipping the scaling would give
    kv_head: int  # which key/value head this query head reads (grouped-query attention)

    @property
    def scaled_scores(self) -> torch.Tensor:
        return self.raw_scores * self.scaling

    @property
    def scores(self) -> torch.Tensor:
        """(Tk,) what the softmax sees before the mask: scaled, soft-capped, plus the bias."""
        return pre_softmax(self.raw_scores, self.scaling, self.softcap, self.bias)

    @property
    def adds_to_scaling(self) -> bool:
        """Whether the model does more to q.k * scaling than the mask: soft-capping or a bias."""
        return self.softcap is not None or self.bias is not None

    @property
    def scaled_by_sqrt_d(self) -> bool:
        """Whether the model scales by 1/sqrt(d), as in Attention Is All You Need."""
        return abs(self.scaling - self.query.numel() ** -0.5) < 1e-9

    @property
    def weights_error(self) -> float:
        return (self.weights - self.model_weights).abs().max().item()

    @property
    def weights_tolerance(self) -> float:
        """float32 rounding allowed in a weight: from the size of the q.k terms behind its score."""
        terms = (self.keys.abs() @ self.query.abs()) * self.scaling  # (Tk,) sum of |q_i k_i| * scaling
        scale = terms[self.allowed].max().item() if self.allowed.any() else 0.0
        if self.bias is not None and self.allowed.any():
            scale += self.bias[self.allowed].abs().max().item()
        return float32_tolerance(max(scale, 1.0), self.query.numel())

    @property
    def output_error(self) -> float:
        return (self.output - self.model_output).abs().max().item()

    @property
    def output_tolerance(self) -> float:
        """float32 rounding allowed in the weighted sum of values, weights' own rounding included."""
        scale = self.values.abs().max().item() * (1.0 + self.weights_tolerance * self.values.shape[0])
        return float32_tolerance(scale, self.values.shape[0])


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
    projection_scale: float | None  # max over outputs of sum_i |concat_i W_ij| + |b_j|: the size of its terms

    @property
    def concat_error(self) -> float:
        return (self.concat - self.model_concat).abs().max().item()

    @property
    def concat_tolerance(self) -> float:
        return self.head.output_tolerance

    @property
    def projection_error(self) -> float | None:
        if self.projected is None:
            return None
        return (self.projected - self.model_projected).abs().max().item()

    @property
    def projection_tolerance(self) -> float | None:
        if self.projection_scale is None:
            return None
        return float32_tolerance(self.projection_scale, self.concat.numel())


def _head_step(layer: LayerAttention, head: int, token: int) -> HeadStep:
    kv_head = head // (layer.query.shape[0] // layer.key.shape[0])
    # only this head's slices, in float64: (d,), (Tk, d), (Tk, d)
    query, keys, values = layer.query[head, token].double(), layer.key[kv_head].double(), layer.value[kv_head].double()
    allowed = layer.allowed[token]
    raw = keys @ query  # (Tk,)
    bias = None if layer.bias is None else layer.bias[head % layer.bias.shape[0], token].double()  # (Tk,)
    sink = None if layer.sink is None else layer.sink[head].item()
    weights = masked_softmax(pre_softmax(raw, layer.scaling, layer.softcap, bias), allowed, sink)
    return HeadStep(
        query=query, keys=keys, values=values, allowed=allowed, raw_scores=raw, scaling=layer.scaling,
        softcap=layer.softcap, bias=bias, sink=sink, weights=weights,
        model_weights=layer.head_weights(head, slice(token, token + 1))[0].double(),
        output=weights @ values, model_output=layer.context[token, head].double(),
        unscaled_weights=masked_softmax(pre_softmax(raw, 1.0, layer.softcap, bias), allowed, sink), kv_head=kv_head,
    )


def _score_variance(layer: LayerAttention, head: int, kv_head: int) -> ScoreVariance:
    q, k = layer.query[head].double(), layer.key[kv_head].double()  # (Tq, d), (Tk, d)
    count, mean, m2 = 0, 0.0, 0.0  # over every allowed pair, by blocks of rows (Chan et al.'s pairwise update)
    for rows in row_blocks(q.shape[0]):
        raw = (q[rows] @ k.T)[layer.allowed_rows(rows)]  # the allowed pairs of these rows
        if raw.numel():
            block_mean = raw.mean().item()
            delta, total = block_mean - mean, count + raw.numel()
            m2 += ((raw - block_mean) ** 2).sum().item() + delta**2 * count * raw.numel() / total
            mean, count = mean + delta * raw.numel() / total, total
    raw_variance = m2 / (count - 1) if count > 1 else float("nan")  # unbiased, as torch.var
    return ScoreVariance(
        query_component=q.var().item(), key_component=k.var().item(),
        raw=raw_variance, scaled=raw_variance * layer.scaling**2,
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
    projected = model_projected = shape = scale = None
    if found is not None:
        module = found[1]
        projected = _project(module, concat)
        scale = _project(module, concat.abs(), magnitudes=True).max().item()
        with torch.inference_mode():
            model_projected = module(layer.context[token].reshape(1, -1).to(module.weight)).double().cpu()[0]
        shape = (concat.numel(), projected.numel())
    return Walkthrough(
        head=step, variance=_score_variance(layer, head, step.kv_head), num_heads=num_heads,
        head_dim=head_dim, concat=concat, model_concat=model_concat,
        projection_name=found[0] if found else None, projection_shape=shape,
        projected=projected, model_projected=model_projected, projection_scale=scale,
    )
