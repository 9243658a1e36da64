"""Record every attention map of one forward pass; a context you enter and leave.

Transformer layers report through `lens_attention`'s sink. The ``nn.MultiheadAttention``
pooling heads (SigLIP, SigLIP 2) are not routed through transformers' registry, so forward
hooks are attached to them for the duration of the recording only.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.engine.lens_attention import LENS_ATTENTION, AttentionVectors, active_sink, pre_softmax


def masked_softmax(logits: torch.Tensor, allowed: torch.Tensor | None,
                   sink: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis where `allowed` is True, in the logits' own precision (float32, as the models
    compute it); rows with nothing allowed become 0.

    sink: logits of one extra column per row (broadcast over logits.shape[:-1]), dropped after the
    softmax, as GPT-OSS's attention sinks: the row then sums to less than 1.
    """
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    if sink is not None:
        column = torch.as_tensor(sink, dtype=logits.dtype).expand(logits.shape[:-1]).unsqueeze(-1)
        logits = torch.cat([logits, column], dim=-1)  # (..., Tk + 1)
    weights = torch.softmax(logits, dim=-1)
    if allowed is not None and not bool(allowed.any(-1).all()):  # a row with nothing allowed: 0, not NaN
        weights = weights.nan_to_num(0.0)
    return weights if sink is None else weights[..., :-1]


@functools.lru_cache(maxsize=2)  # two inputs side by side (A/B, ablation); 268 MB each at 8,192 tokens
def _additive_mask(mask: torch.Tensor | None, shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(a (Tq, Tk) float32 mask, 0 where allowed and the lowest float where not; the rows that allow nothing, or
    None), made once for the layers that share `mask` (the last two masks are kept). The lowest float rather than
    -inf keeps masked logits finite: their weights are exactly 0 and weights · logits has no 0 · inf."""
    if mask is None:
        return torch.zeros(shape), None
    empty = _mask_extent(mask)[1] < 0  # rows with no allowed key
    lowest = torch.finfo(torch.float32).min
    return torch.zeros(shape).masked_fill(~mask, lowest), (empty if bool(empty.any()) else None)


def _fused_softmax(logits: torch.Tensor, empty_rows: torch.Tensor | None) -> torch.Tensor:
    """Softmax of logits made with `_additive_mask`; a row with nothing allowed is 0 (the lowest float everywhere
    made it uniform). empty_rows: (rows,) bool or None."""
    weights = torch.softmax(logits, dim=-1)
    return weights if empty_rows is None else weights.masked_fill(empty_rows[:, None], 0.0)


_ZERO = torch.zeros(1, 1, 1)  # what a product with beta = 0 adds to: nothing
Rows = slice | torch.Tensor  # query rows of a map: a slice, or positions (r,) long
ROW_BLOCK = 256  # queries per block when a view walks one head's map by rows: one block, never T × T
LAYER_ROW_BLOCK = 64  # queries per block when every head of a layer is walked at once (H × 64 × T cells a block;
# at 4,096 tokens SmolLM2's A/B shift and ablation change ran 2.5× faster than with 256-row blocks)


def row_blocks(count: int, size: int = ROW_BLOCK) -> list[slice]:
    """range(count) cut into consecutive slices of at most `size`."""
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


@functools.lru_cache(maxsize=2)
def _mask_extent(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """((Tq,) the first key each query may not attend, Tk for none; (Tq,) the last key it may, -1 for none), made
    once per mask: a block of rows then needs its keys only up to one max, and its mask only from one min."""
    tq, tk = mask.shape
    first, last = torch.empty(tq, dtype=torch.long), torch.empty(tq, dtype=torch.long)
    for rows in row_blocks(tq, 1024):  # (r, Tk) bytes at a time, never T x T
        allowed = mask[rows]
        first[rows] = torch.where(allowed.all(-1), tk, (~allowed).to(torch.uint8).argmax(-1))
        last[rows] = torch.where(allowed.any(-1), tk - 1 - allowed.flip(-1).to(torch.uint8).argmax(-1), -1)
    return first, last


class ScoresUnavailable(ValueError):
    """The model returned only its attention weights: no scores, queries, keys or values to show."""


@dataclass(frozen=True)
class LayerAttention:
    """One attention call of one input: what determines its maps, and where attending is allowed.

    The promise: weights = softmax(scores + mask), with the sink column when the model has sinks.
    Scores hold everything the model adds before its softmax: q.k * scaling, soft-capping, and any
    additive bias (ALiBi, relative positions) that arrived in a float mask. Neither is recorded when
    the queries and keys are: both are computed on demand, for one head or all of them, so a capture
    holds memory linear in its length (q, k, v, and each distinct mask or bias once).
    Models that bypass transformers' attention registry give weights only (see `exposes_scores`).
    """

    name: str  # the module's path in the model, e.g. "encoder.layer.3.attention.attention"
    stored_weights: torch.Tensor | None  # (H, Tq, Tk) when they cannot be computed (weights-only models, pooling)
    stored_scores: torch.Tensor | None  # (H, Tq, Tk) when they cannot be computed from q and k (pooling heads)
    mask: torch.Tensor | None  # (Tq, Tk) bool, True where the query may attend the key
    scaling: float | None = None  # what q.k was multiplied by (1/sqrt(d) for almost every model)
    query: torch.Tensor | None = None  # (H, Tq, d) per-head queries, after rotary embeddings
    key: torch.Tensor | None = None  # (H_kv, Tk, d): fewer heads than H under grouped-query attention
    value: torch.Tensor | None = None  # (H_kv, Tk, d)
    context: torch.Tensor | None = None  # (Tq, H, d): each head's weighted sum of values, before W^O
    softcap: float | None = None  # tanh soft-capping of the scores (Gemma 2), when the model uses it
    bias: torch.Tensor | None = None  # (H|1, Tq, Tk) additive bias the model put in its mask (ALiBi, BEiT)
    sink: torch.Tensor | None = None  # (H,) sink logits (GPT-OSS): one more softmax column per row

    @property
    def num_heads(self) -> int:
        return (self.query if self.query is not None else self.stored_weights).shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(Tq, Tk): queries and keys of one map."""
        if self.query is not None:
            return self.query.shape[1], self.key.shape[1]
        return tuple(self.stored_weights.shape[-2:])

    @property
    def exposes_scores(self) -> bool:
        """Whether scores (and so every view built on them) exist for this layer."""
        return self.stored_scores is not None or self.query is not None

    def head_scores(self, head: int | slice = slice(None), rows: Rows = slice(None)) -> torch.Tensor:
        """(Tq, Tk) for one head, (H', Tq, Tk) for a slice: q.k * scaling, soft-capped if the model does, plus any
        additive bias; before the mask. `rows` picks query rows (a slice or positions): (r, Tk), (H', r, Tk)."""
        if not self.exposes_scores:
            raise ScoresUnavailable(f"{self.name} returned only its attention weights, not its scores")
        bias = None if self.bias is None else (self.bias[head] if self.bias.shape[0] > 1 else self.bias[0])
        bias = None if bias is None else bias[..., rows, :]
        if self.stored_scores is not None:
            scores = self.stored_scores[head][..., rows, :]
            return scores if bias is None else scores + bias
        query, key = self._vectors(head)
        qk = torch.matmul(query[..., rows, :], key.transpose(-1, -2))  # (r, Tk) or (H', r, Tk)
        return pre_softmax(qk, self.scaling, self.softcap, bias)

    def _vectors(self, head: int | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """The queries of `head` and the keys each reads: (Tq, d), (Tk, d) or, for a slice, (H', Tq, d), (H', Tk, d)."""
        group = self.query.shape[0] // self.key.shape[0]  # query heads per key/value head
        if group == 1:
            return self.query[head], self.key[head]
        heads = torch.arange(self.query.shape[0])[head]  # the query heads asked for
        return self.query[head], self.key[heads // group]

    def head_weights(self, head: int | slice = slice(None), rows: Rows = slice(None)) -> torch.Tensor:
        """(Tq, Tk) for one head, (H', Tq, Tk) for a slice, (…, r, Tk) for some rows: the attention weights,
        computed from the scores."""
        return self.head_softmax(head, rows)[0]

    @property
    def computed_by_rows(self) -> bool:
        """Whether the common case holds (no stored maps, soft-capping, bias or sinks): the weights then come from
        one fused product of the mask, q and k (`head_softmax`), and a block of rows needs only the keys they
        reach (`head_rows`)."""
        return (self.stored_weights is None and self.stored_scores is None and self.softcap is None
                and self.bias is None and self.sink is None)

    def reach(self, rows: Rows) -> int:
        """How many leading keys `rows` may attend: one past the last allowed key of any of them (at least 1)."""
        if self.mask is None:
            return self.shape[1]
        last = _mask_extent(self.mask)[1][rows]
        return max(int(last.max()) + 1, 1) if len(last) else 1

    def head_rows(self, head: int | slice, rows: Rows) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weights, logits or None) of `rows` of one head's map (or a slice of heads), over the keys up to the
        last one these rows may attend: (…, r, K), K ≤ Tk, the weights past K being 0. A causal map's early rows
        cost a fraction of a full row each, so walking a map by rows does about half the work of computing it
        whole."""
        if not self.computed_by_rows:
            return self.head_softmax(head, rows)
        return self._fused(head, rows, self.reach(rows))

    def _fused(self, head: int | slice, rows: Rows, reach: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The common case in one fused product, mask + scaling · q kᵀ, then the softmax: (…, r, K) weights and
        their logits, over the first `reach` keys."""
        blocked, empty_rows = _additive_mask(self.mask, self.shape)
        empty_rows = None if empty_rows is None else empty_rows[rows]
        group = self.query.shape[0] // self.key.shape[0]  # query heads per key/value head
        if head == slice(None):  # every head: each key head's queries in one product, keys read in place
            q = self.query[:, rows]  # (H, r, d)
            heads, r, d = q.shape
            kv = self.key.shape[0]
            logits = torch.baddbmm(_ZERO.expand(kv, group * r, reach), q.reshape(kv, group * r, d),
                                   self.key[:, :reach].transpose(-1, -2), beta=0.0,
                                   alpha=self.scaling).view(heads, r, reach)  # (H_kv, group·r, K) -> (H, r, K)
            # the mask from the first key any of these rows may not attend (a causal block: its last r columns)
            if self.mask is not None:
                start = min(int(_mask_extent(self.mask)[0][rows].min()), reach)
                logits[..., start:] += blocked[rows, start:reach]
            return _fused_softmax(logits, empty_rows), logits
        query, key = self._vectors(head)
        q, k, blocked = query[..., rows, :], key[..., :reach, :], blocked[rows, :reach]  # (…, r, d), (…, K, d)
        if q.dim() == 2:
            logits = torch.addmm(blocked, q, k.T, alpha=self.scaling)  # (r, K)
        else:
            logits = torch.baddbmm(blocked.expand(q.shape[0], -1, -1), q, k.transpose(-1, -2),
                                   alpha=self.scaling)  # (H', r, K)
        return _fused_softmax(logits, empty_rows), logits

    def weighted_values(self, weights: torch.Tensor) -> torch.Tensor:
        """(H, r, d): every head's weighted sum of its values, for (H, r, K) weights over the first K keys (a block
        of rows from `head_rows`); grouped heads read their shared values in place."""
        heads, r, reach = weights.shape
        kv = self.value.shape[0]
        return torch.bmm(weights.reshape(kv, -1, reach), self.value[:, :reach]).view(heads, r, -1)

    def head_softmax(self, head: int | slice = slice(None),
                     rows: Rows = slice(None)) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weights, the finite logits they are the softmax of, masked cells at the lowest float) for one head or a
        slice, and some rows; the logits are None unless the common case computed them on the way (they give the
        entropy without a logarithm per cell, see `head_stats`)."""
        if self.stored_weights is not None:
            return self.stored_weights[head][..., rows, :], None
        if self.computed_by_rows:
            return self._fused(head, rows, self.shape[1])
        return self.softmax(self.head_scores(head, rows), rows, head), None

    @property
    def scores(self) -> torch.Tensor:
        """(H, Tq, Tk), computed on each use (nothing of size T² is kept): `head_scores` for one head."""
        return self.head_scores()

    @property
    def weights(self) -> torch.Tensor:
        """(H, Tq, Tk), rows sum to 1 (less with sinks); computed on each use unless the model gave only these:
        `head_weights` for one head."""
        return self.head_weights()

    @property
    def allowed(self) -> torch.Tensor:
        """(Tq, Tk) bool: the mask, or everything allowed when there is none."""
        if self.mask is not None:
            return self.mask
        return torch.ones(self.shape, dtype=torch.bool)

    def allowed_rows(self, rows: Rows) -> torch.Tensor:
        """(r, Tk) bool: the mask's `rows`, or everything allowed when there is none."""
        if self.mask is not None:
            return self.mask[rows]
        count = len(range(*rows.indices(self.shape[0]))) if isinstance(rows, slice) else len(rows)
        return torch.ones(count, self.shape[1], dtype=torch.bool)

    def softmax(self, scores: torch.Tensor, rows: Rows = slice(None),
                head: int | slice = slice(None)) -> torch.Tensor:
        """Scores of `head` (all heads unless told) at `rows` -> weights as this layer computes them: masked, with
        its sinks if any."""
        sink = None if self.sink is None else self.sink[head]
        if sink is not None and sink.dim() == 1:
            sink = sink[:, None]  # one sink per head, broadcast over its rows
        return masked_softmax(scores, self.allowed_rows(rows), sink)


LayerPass = Callable[["LayerAttention"], tuple[Any, torch.Tensor]]  # a layer -> (what it computed, output (Tq, H, d))


class Recording:
    """Collects the attention calls made by one model in the current context."""

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32, fast: bool = True,
                 layer_pass: LayerPass | None = None, on_layer: Callable[[int], None] | None = None):
        self.dtype = dtype
        self.fast = fast  # attention may run on SDPA (no weights returned, so no output_attentions)
        self.layer_pass = layer_pass
        self.on_layer = on_layer  # told how many layers are recorded, after each one
        self.passed: list = []  # what layer_pass computed beside each output, in call order
        self.names = {module: name for name, module in model.named_modules()}
        self.layers: list[LayerAttention] = []
        self.pooling: list[LayerAttention] = []
        # distinct masks seen, by address; each entry holds its tensor so no later mask reuses the address
        self._masks: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]] = {}

    def plain_causal(self, mask: torch.Tensor | None, tq: int) -> bool:
        """Whether `mask` (1, 1, T, T) of one input only hides the future: no padding, no bias, square. Read from
        the mask's recorded parts, so once per distinct mask (every layer of a causal model shares one)."""
        if mask is None or mask.dim() != 4 or mask.shape[:2] != (1, 1) or mask.shape[-2:] != (tq, tq):
            return False
        return self._mask_parts(mask, 1, tq)[2]  # the number of heads matters only for 3-D masks

    def attend(self, module: nn.Module, mask: torch.Tensor | None, query: torch.Tensor, key: torch.Tensor,
               value: torch.Tensor, scaling: float) -> torch.Tensor | None:
        """The output (1, Tq, H, d) of one attention call from `layer_pass` over its recorded vectors, keeping what
        else the pass computed; None (SDPA runs) without a pass, for a batch, off the CPU, for another model, or
        when a row may attend nothing."""
        if self.layer_pass is None or query.shape[0] != 1 or query.device.type != "cpu" or module not in self.names:
            return None
        allowed, bias, _ = self._mask_parts(mask, query.shape[1], query.shape[2])
        if allowed is not None and int(_mask_extent(allowed)[1].min()) < 0:
            return None  # a row that may attend nothing (padding): its output is the kernel's own (uniform, 0, NaN)
        layer = LayerAttention(name=self.names[module], stored_weights=None, stored_scores=None, mask=allowed,
                               bias=bias, scaling=scaling, query=self._keep(query), key=self._keep(key),
                               value=self._keep(value))
        passed, context = self.layer_pass(layer)  # context (Tq, H, d)
        self.passed.append(passed)
        return context.unsqueeze(0).to(query.dtype)

    def _keep(self, x: torch.Tensor) -> torch.Tensor:
        # first item of the batch, on the CPU; no copy when it already is CPU and `dtype`
        return x[0].detach().to("cpu", self.dtype)

    def _mask_parts(self, mask: torch.Tensor | None, heads: int,
                    tq: int) -> tuple[torch.Tensor | None, torch.Tensor | None, bool]:
        """(allowed (Tq, Tk) bool, bias (H|1, Tq, Tk) or None, whether it only hides the future) of a boolean or
        additive mask, once per mask.

        An additive mask is 0 where attending is allowed and a huge negative number where it is not,
        unless the model folded a bias into it (ALiBi, BEiT's relative positions): that finite part is
        kept as `bias`, so that the scores hold everything the softmax sees.
        """
        if mask is None:
            return None, None, False
        key = (mask.data_ptr(), tuple(mask.shape), mask.dtype)
        if key not in self._masks:
            # (B, 1|H, Tq|1, Tk) from transformers; (B*H|B, Tq, Tk) or (Tq, Tk) from nn.MultiheadAttention
            per_head = mask[0] if mask.dim() == 4 else mask[:heads] if mask.dim() == 3 else mask[None]
            per_head = per_head.detach().to("cpu")  # (H|1, Tq|1, Tk)
            tk = per_head.shape[-1]
            if per_head.dtype == torch.bool:
                allowed, bias = per_head[0], None
            else:
                allowed = per_head[0] > torch.finfo(per_head.dtype).min / 2
                finite = per_head.masked_fill(~allowed, 0.0)
                bias = finite.to(self.dtype).expand(finite.shape[0], tq, tk).clone() if finite.any() else None
            allowed = allowed.expand(tq, tk).clone()
            causal = bias is None and tq == tk and bool(torch.equal(allowed, torch.ones_like(allowed).tril()))
            self._masks[key] = (mask, allowed, bias, causal)
        return self._masks[key][1:]

    def record(self, module: nn.Module, mask: torch.Tensor | None, *, vectors: AttentionVectors | None = None,
               scores: torch.Tensor | None = None, weights: torch.Tensor | None = None,
               pooling: bool = False) -> None:
        """One attention call: its q, k, v (the maps are computed from them on demand), or, for the pooling heads
        that only hand over their scores and weights, those."""
        name = self.names.get(module)
        if name is None:  # another model running in this context: not ours
            return
        if vectors is not None:
            heads, tq = vectors.query.shape[1], vectors.query.shape[2]
            extra = dict(stored_weights=None, stored_scores=None, scaling=vectors.scaling, softcap=vectors.softcap,
                         query=self._keep(vectors.query), key=self._keep(vectors.key),
                         value=self._keep(vectors.value), context=self._keep(vectors.context),
                         sink=None if vectors.sink is None else vectors.sink.detach().to("cpu", self.dtype))
        else:  # nn.MultiheadAttention pooling heads: only their scores and weights are at hand
            heads, tq = weights.shape[1], weights.shape[2]
            scaling = (module.embed_dim // module.num_heads) ** -0.5 if pooling else None
            extra = dict(stored_weights=self._keep(weights), stored_scores=self._keep(scores), scaling=scaling)
        allowed, bias, _ = self._mask_parts(mask, heads, tq)
        layer = LayerAttention(name=name, mask=allowed, bias=bias, **extra)
        (self.pooling if pooling else self.layers).append(layer)
        if self.on_layer is not None and not pooling:
            self.on_layer(len(self.layers))


def _multihead_scores(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Scaled q.k of nn.MultiheadAttention per head, from its own projections: (B, H, Tq, Tk)."""
    if not module.batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    e, h = module.embed_dim, module.num_heads
    if module._qkv_same_embed_dim:
        w_q, w_k = module.in_proj_weight[:e], module.in_proj_weight[e : 2 * e]
    else:
        w_q, w_k = module.q_proj_weight, module.k_proj_weight
    bias = module.in_proj_bias
    b_q, b_k = (None, None) if bias is None else (bias[:e], bias[e : 2 * e])
    q = F.linear(query, w_q, b_q)  # (B, Tq, E)
    k = F.linear(key, w_k, b_k)  # (B, Tk, E)
    b, tq, tk, d = q.shape[0], q.shape[1], k.shape[1], e // h
    q = q.view(b, tq, h, d).transpose(1, 2)  # (B, H, Tq, d)
    k = k.view(b, tk, h, d).transpose(1, 2)  # (B, H, Tk, d)
    return torch.matmul(q, k.transpose(-1, -2)) * d**-0.5  # (B, H, Tq, Tk)


def _hook_multihead(module: nn.MultiheadAttention, rec: Recording) -> list:
    """Ask the module for per-head weights and record them with its scores, for `rec` only."""
    pending: dict[str, torch.Tensor] = {}

    def before(mod, args, kwargs):
        if active_sink.get() is not rec:  # another thread's forward on the shared model
            return None
        query, key = (list(args) + [kwargs.get("query"), kwargs.get("key")])[:2]
        pending["scores"] = _multihead_scores(mod, query, key)
        pending["mask"] = kwargs.get("attn_mask")
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def after(mod, args, kwargs, output):
        if active_sink.get() is not rec or "scores" not in pending:
            return None
        rec.record(mod, pending.pop("mask"), scores=pending.pop("scores"), weights=output[1], pooling=True)
        return None

    return [
        module.register_forward_pre_hook(before, with_kwargs=True),
        module.register_forward_hook(after, with_kwargs=True),
    ]


_hook_locks: weakref.WeakKeyDictionary[nn.Module, threading.Lock] = weakref.WeakKeyDictionary()


@contextmanager
def recording(model: nn.Module, dtype: torch.dtype = torch.float32, fast: bool = True,
              layer_pass: LayerPass | None = None, on_layer: Callable[[int], None] | None = None,
              ) -> Iterator[Recording]:
    """Within this context, forward passes of `model` in this thread are recorded; nothing stays after.

    fast: attention runs on SDPA where it can, and returns no weights: pass False when the forward pass asks for
    output_attentions.
    layer_pass: run instead of SDPA on the CPU, given each layer's recorded vectors; it returns (anything, the
    output): when a view needs every map at once (the overview), the forward's attention and that view share them.
    on_layer: called with the number of layers recorded so far, after each (a progress bar for long inputs).
    """
    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation != LENS_ATTENTION:
        raise ValueError(
            f"model runs {implementation!r} attention; load it with attn_implementation={LENS_ATTENTION!r}"
        )
    rec = Recording(model, dtype, fast, layer_pass, on_layer)
    pooling_heads = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    # torch's hook tables are not safe to change while another thread runs the same model:
    # recordings that attach hooks take turns on that model (the others run side by side)
    lock = _hook_locks.setdefault(model, threading.Lock()) if pooling_heads else nullcontext()
    with lock:
        handles = []
        token = active_sink.set(rec)
        try:
            for module in pooling_heads:
                handles += _hook_multihead(module, rec)
            yield rec
        finally:
            for handle in handles:
                handle.remove()
            active_sink.reset(token)
