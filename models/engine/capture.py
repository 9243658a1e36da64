"""One call per input: every layer's attention weights, scores and mask, with what the tokens are.

Text gets token labels (and the segment of each token for sentence pairs); images get the
patch grid: its size, and which tokens are CLS, registers or padding rather than patches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers.tokenization_utils_tokenizers import TokenizersBackend

from models.engine.budget import attention_shape, budget_refusal
from models.engine.loading import LoadedModel
from models.engine.overview import LayerOverview, attend_with_overview
from models.engine.recording import LayerAttention, recording

DEFAULT_MAX_TOKENS = 512
LIMITLESS_TOKENS = 1 << 20  # a model that states no limit of its own (ALiBi): the memory budget is what bounds it


class CaptureError(ValueError):
    """The input cannot be captured; the message says why, for the user."""


@dataclass(frozen=True)
class PatchGrid:
    """Where the image patches sit among a vision model's tokens."""

    rows: int
    cols: int
    cls_tokens: int  # 1 for ViT / DINOv2 / CLIP, 0 for SigLIP
    registers: int  # extra learned tokens after CLS (DINOv2 with registers)
    padding: int  # NaFlex padding tokens after the grid (SigLIP 2)

    @property
    def first_patch(self) -> int:
        return self.cls_tokens + self.registers

    @property
    def patches(self) -> slice:
        """Token positions of the grid's patches, row-major."""
        return slice(self.first_patch, self.first_patch + self.rows * self.cols)


@dataclass(frozen=True)
class AttentionCapture:
    """Everything one forward pass attended to, on the CPU."""

    model_name: str
    layers: tuple[LayerAttention, ...]
    pooling: LayerAttention | None = None  # SigLIP's probe over the patches: (H, 1, N)
    tokens: tuple[str, ...] | None = None
    segments: tuple[int, ...] | None = None  # token_type_ids of a sentence pair
    special: tuple[bool, ...] | None = None  # True for the tokenizer's special tokens ([CLS], [SEP], <s>…)
    grid: PatchGrid | None = None
    pixels: np.ndarray | None = None  # (H, W, 3) uint8: the image exactly as the model saw it
    hidden: torch.Tensor | None = None  # (T, C) the model's last hidden state (next-token logits, embeddings, saliency)
    causal: bool = False
    dropped_tokens: int = 0  # cut off because the input was longer than allowed
    kv_heads: int | None = None  # key/value heads under grouped-query attention
    overview: tuple[LayerOverview, ...] | None = None  # every layer's, when the forward pass computed them

    @property
    def exposes_scores(self) -> bool:
        """False for models read through output_attentions: weights only, no scores or q/k/v."""
        return self.layers[0].exposes_scores

    @property
    def second_segment(self) -> int | None:
        """Index of the first token of a sentence pair's second segment; None for a single text."""
        return self.segments.index(1) if self.segments and 1 in self.segments else None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_heads(self) -> int:
        return self.layers[0].num_heads

    @property
    def seq_len(self) -> int:
        return self.layers[0].shape[-1]

    @property
    def nbytes(self) -> int:
        """Bytes its tensors hold (the maps are computed on demand, not held)."""
        total = sum(a.nbytes for a in (self.hidden, self.pixels) if a is not None)
        for overview in self.overview or ():
            total += sum(t.nbytes for t in (overview.entropy, overview.distance, overview.key_share,
                                            overview.thumbnails) if t is not None)
        return total + layers_nbytes((*self.layers, *((self.pooling,) if self.pooling is not None else ())))


def layers_nbytes(layers: Iterable[LayerAttention]) -> int:
    """Bytes recorded layers hold, each tensor once even when layers share it (a mask, a position bias)."""
    held = {}
    for layer in layers:
        for tensor in (layer.stored_weights, layer.stored_scores, layer.mask, layer.query, layer.key, layer.value,
                       layer.context, layer.bias, layer.sink):
            if tensor is not None:
                held[id(tensor)] = tensor.nbytes
    return sum(held.values())


def token_label(text: str) -> str:
    """Make a token's edge whitespace and line breaks visible."""
    text = text.replace("\n", "↵").replace("\t", "⇥")
    if text.startswith(" "):
        text = "␣" + text[1:]
    return text or "∅"


def token_labels(tokenizer, ids: Iterable[int]) -> tuple[str, ...]:
    """Each token id as its own text, made visible (`token_label`); decoded in one call, by the Rust tokenizer itself
    when the tokenizer adds nothing to its decoding (what batch_decode would do, per token in Python: 1.8 -> 0.6 ms
    for 512 tokens)."""
    singles = [[int(i)] for i in ids]
    if isinstance(tokenizer, TokenizersBackend) and type(tokenizer)._decode is TokenizersBackend._decode:
        texts = tokenizer.backend_tokenizer.decode_batch(singles, skip_special_tokens=False)
    else:
        texts = tokenizer.batch_decode(singles, clean_up_tokenization_spaces=False)
    return tuple(token_label(text) for text in texts)


def _returned_layers(output, causal: bool, dtype: torch.dtype) -> tuple[LayerAttention, ...]:
    """Layers from output_attentions, for models whose code bypasses the registry: weights only."""
    layers = []
    for index, weights in enumerate(getattr(output, "attentions", None) or ()):
        kept = weights[0].detach().to("cpu", dtype)  # (H, Tq, Tk)
        mask = torch.ones(kept.shape[-2:], dtype=torch.bool).tril() if causal else None
        layers.append(LayerAttention(name=f"layer {index}", stored_weights=kept, stored_scores=None, mask=mask))
    return tuple(layers)


def _record(loaded: LoadedModel, inputs: dict[str, torch.Tensor], dtype: torch.dtype, overview: bool = False,
            progress: Callable[[int, int], None] | None = None):
    """(layers, pooling layer, last hidden state, every layer's overview or None); `progress(layers recorded,
    layers)` after each layer."""
    inputs = {k: v.to(loaded.device) for k, v in inputs.items()}
    overviews = None
    if loaded.exposes_scores:
        layer_pass = attend_with_overview if overview else None
        total = attention_shape(loaded.model.config)[0]
        on_layer = None if progress is None else lambda done: progress(min(done, total), total)
        with torch.inference_mode(), recording(loaded.model, dtype, layer_pass=layer_pass, on_layer=on_layer) as rec:
            output = loaded.model(**inputs)
        layers, pooling = tuple(rec.layers), (rec.pooling[-1] if rec.pooling else None)
        if overview and len(rec.passed) == len(layers):  # not when some layer had to run eager (sinks, soft-capping)
            overviews = tuple(rec.passed)
    else:
        with torch.inference_mode():
            output = loaded.model(**inputs, output_attentions=True)
        layers, pooling = _returned_layers(output, loaded.causal, dtype), None
    if not layers:
        raise CaptureError(f"{loaded.name} ran without any attention call that Attention Lens can read.")
    hidden = getattr(output, "last_hidden_state", None)
    hidden = None if hidden is None else hidden[0].detach().to("cpu", dtype)  # (T, C), after the final norm
    return layers, pooling, hidden, overviews


def text_limit(loaded: LoadedModel, max_tokens: int | None = DEFAULT_MAX_TOKENS) -> int:
    """Most tokens one capture takes: the model's own limit, at most `max_tokens` (None: the model's own alone,
    or LIMITLESS_TOKENS when the model states none)."""
    limits = [max_tokens, getattr(loaded.model.config, "max_position_embeddings", None)]
    model_max = getattr(loaded.processor, "model_max_length", None)
    if model_max and model_max < 1_000_000:  # tokenizers without a limit report ~1e30
        limits.append(model_max)
    return min((x for x in limits if x), default=LIMITLESS_TOKENS)


def encode_text(loaded: LoadedModel, text: str, pair: str | None = None,
                max_tokens: int | None = DEFAULT_MAX_TOKENS) -> tuple[dict[str, torch.Tensor], int]:
    """(the tokenizer's tensors for `text` and an optional second segment, cut to the limit; how many tokens were
    cut off)."""
    if loaded.modality != "text":
        raise CaptureError(f"{loaded.name} is a vision model: it takes images, not text.")
    if not text.strip():
        raise CaptureError("Type some text first: the input is empty.")
    tokenizer = loaded.processor
    pair = pair if pair and pair.strip() else None
    limit = text_limit(loaded, max_tokens)
    if pair is None and getattr(tokenizer, "is_fast", False):
        encoded, dropped = _cut_in_one_pass(tokenizer, text, limit)
    else:
        encoded = tokenizer(text, pair, return_tensors="pt")
        full = encoded["input_ids"].shape[1]
        if full > limit:  # tokenise again only when it has to be cut
            encoded = tokenizer(text, pair, truncation=True, max_length=limit, return_tensors="pt")
        dropped = max(0, full - encoded["input_ids"].shape[1])
    if encoded["input_ids"].shape[1] == 0:
        raise CaptureError("The tokenizer produced no tokens for this text.")
    return dict(encoded), dropped


def _cut_in_one_pass(tokenizer, text: str, limit: int) -> tuple[dict[str, torch.Tensor], int]:
    """(the first `limit` tokens' tensors, how many were cut) from one tokenisation: a fast tokenizer hands the cut
    tokens over as further chunks, each with its own special tokens (MiniLM, 948 tokens cut to 512: 2.5 ms instead of
    5.6 ms tokenising twice)."""
    chunks = tokenizer(text, truncation=True, max_length=limit, return_overflowing_tokens=True)
    ids = chunks["input_ids"]  # the kept tokens, then the cut ones
    dropped = sum(len(chunk) for chunk in ids[1:]) - (len(ids) - 1) * tokenizer.num_special_tokens_to_add()
    kept = {name: torch.tensor([values[0]]) for name, values in chunks.items() if name != "overflow_to_sample_mapping"}
    return kept, dropped


def capture_text(
    loaded: LoadedModel,
    text: str,
    pair: str | None = None,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    dtype: torch.dtype = torch.float32,
    budget_mb: float | None = None,
    machine_budget: bool = False,
    overview: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> AttentionCapture:
    """Tokenise `text` (and an optional second segment), run the model, return all its attention; refuse before
    running when it would take more than `budget_mb` (a server's, or with `machine_budget` this machine's).
    overview: compute every layer's overview in the forward pass itself (on the CPU; see models.engine.overview).
    progress: called with (layers recorded, layers) after each layer of the forward pass."""
    if loaded.encoder_decoder:
        raise CaptureError(f"{loaded.name} is an encoder–decoder: its attention is read by "
                           "models.text.seq2seq.translate_with_attention, which also writes its output.")
    encoded, dropped = encode_text(loaded, text, pair, max_tokens)
    refusal = budget_refusal(loaded.model.config, encoded["input_ids"].shape[1], budget_mb,
                             stored_maps=not loaded.exposes_scores, machine=machine_budget)
    if refusal:
        raise CaptureError(refusal)
    return capture_encoded(loaded, encoded, dtype, pair=bool(pair and pair.strip()), dropped=dropped,
                           overview=overview, progress=progress)


def capture_encoded(loaded: LoadedModel, encoded: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32,
                    pair: bool = False, dropped: int = 0, overview: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> AttentionCapture:
    """Run the model on already tokenised inputs (`input_ids` of one text, (1, T)) and return all its attention."""
    tokenizer = loaded.processor
    ids = encoded["input_ids"][0]
    layers, pooling, hidden, overviews = _record(loaded, encoded, dtype, overview, progress)
    config = loaded.model.config
    heads, kv = getattr(config, "num_attention_heads", None), getattr(config, "num_key_value_heads", None)
    segments = encoded.get("token_type_ids")
    special_ids = set(tokenizer.all_special_ids)
    return AttentionCapture(
        model_name=loaded.name,
        layers=layers,
        pooling=pooling,
        tokens=token_labels(tokenizer, ids.tolist()),
        segments=tuple(segments[0].tolist()) if pair and segments is not None else None,
        special=tuple(i in special_ids for i in ids.tolist()),
        hidden=hidden,
        causal=loaded.causal,
        dropped_tokens=dropped,
        kv_heads=kv if kv and heads and kv != heads else None,
        overview=overviews,
    )


def patch_grid(loaded: LoadedModel, inputs: dict[str, torch.Tensor], seq_len: int) -> PatchGrid:
    """Rows, columns and non-patch tokens of the grid for these processed inputs."""
    config = loaded.model.config
    if "spatial_shapes" in inputs:  # SigLIP 2 NaFlex: (h, w) per image, then padding
        rows, cols = (int(x) for x in inputs["spatial_shapes"][0])
    else:
        patch = config.patch_size
        _, _, height, width = inputs["pixel_values"].shape
        rows, cols = height // patch, width // patch
    padding = seq_len - rows * cols if "spatial_shapes" in inputs else 0
    prefix = seq_len - rows * cols - padding
    cls_tokens = 0 if config.model_type in ("siglip_vision_model", "siglip2_vision_model") else min(prefix, 1)
    return PatchGrid(rows, cols, cls_tokens, prefix - cls_tokens, padding)


def seen_pixels(processor, inputs: dict[str, torch.Tensor], grid: PatchGrid) -> np.ndarray:
    """The processed image back in 0..255 RGB: what the model saw, after its resize and crop. (H, W, 3)."""
    x = inputs["pixel_values"][0].float()
    if "spatial_shapes" in inputs:  # NaFlex rows of p*p*C patch pixels, then padding: un-patchify
        p = int((x.shape[-1] // 3) ** 0.5)
        x = x[: grid.rows * grid.cols].reshape(grid.rows, grid.cols, p, p, 3)
        x = x.permute(4, 0, 2, 1, 3).reshape(3, grid.rows * p, grid.cols * p)  # (C, H, W)
    if getattr(processor, "do_normalize", True):
        mean = torch.tensor(processor.image_mean).view(-1, 1, 1)
        x = x * torch.tensor(processor.image_std).view(-1, 1, 1) + mean
    if getattr(processor, "do_rescale", True):
        x = x / processor.rescale_factor
    return x.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)


def capture_image(loaded: LoadedModel, image: Image.Image, dtype: torch.dtype = torch.float32) -> AttentionCapture:
    """Preprocess `image` with the model's processor, run it, return all attention, the grid and what it saw."""
    if loaded.modality != "vision":
        raise CaptureError(f"{loaded.name} is a text model: it takes text, not images.")
    inputs = dict(loaded.processor(images=image.convert("RGB"), return_tensors="pt"))
    layers, pooling, hidden, _ = _record(loaded, inputs, dtype)
    grid = patch_grid(loaded, inputs, layers[0].shape[-1])
    return AttentionCapture(
        model_name=loaded.name,
        layers=layers,
        pooling=pooling,
        grid=grid,
        pixels=seen_pixels(loaded.processor, inputs, grid),
        hidden=hidden,
    )
