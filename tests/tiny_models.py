"""Tiny randomly initialised models of every family the app must read, and inputs for them.

Shape and equivalence tests run on these; anything about meaning runs on the real packs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers as tf

from models.lens_attention import LENS_ATTENTION
from models.loading import LoadedModel

_BODY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


@dataclass(frozen=True)
class Family:
    name: str
    model_class: type
    config: tf.PretrainedConfig
    processor: object | None  # image processor for vision families (tokenizers come from packs)

    def inputs(self, seed: int = 0) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        cfg = self.config
        if self.name == "siglip2":  # NaFlex: 3 x 4 grid in a 16-patch budget, 4 padding tokens
            return dict(
                pixel_values=torch.randn(1, 16, 3 * 8 * 8, generator=g),
                pixel_attention_mask=torch.tensor([[1] * 12 + [0] * 4]),
                spatial_shapes=torch.tensor([[3, 4]]),
            )
        if hasattr(cfg, "image_size"):
            return dict(pixel_values=torch.randn(1, 3, 32, 48 if self.name == "dinov2" else 32, generator=g))
        ids = torch.randint(5, cfg.vocab_size, (1, 9), generator=g)
        return dict(input_ids=ids, attention_mask=torch.ones_like(ids))

    def pair(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The same random weights loaded twice: with Attention Lens's attention and with eager."""
        torch.manual_seed(0)
        lens = self.model_class._from_config(copy.deepcopy(self.config), attn_implementation=LENS_ATTENTION)
        eager = self.model_class._from_config(copy.deepcopy(self.config), attn_implementation="eager")
        eager.load_state_dict(lens.state_dict())
        return lens.eval(), eager.eval()

    def loaded(self) -> LoadedModel:
        """The Attention Lens copy of `pair()` as the capture functions take it (vision families)."""
        lens, _ = self.pair()
        return LoadedModel(self.name, self.name, lens, self.processor, "vision", False, torch.device("cpu"),
                           torch.float32)

    def save(self, folder: Path, tokenizer=None) -> Path:
        """Write a from_pretrained folder (weights, config, tokenizer or image processor)."""
        torch.manual_seed(0)
        self.model_class._from_config(copy.deepcopy(self.config)).save_pretrained(folder)
        if self.processor is not None:
            self.processor.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        return folder


def families() -> dict[str, Family]:
    vision = dict(image_size=32, patch_size=8, **_BODY)
    small_vit = tf.ViTImageProcessorPil(size={"height": 32, "width": 32})
    return {
        f.name: f
        for f in (
            Family("bert", tf.BertModel, tf.BertConfig(vocab_size=30522, **_BODY), None),
            Family(
                "llama",
                tf.LlamaForCausalLM,
                tf.LlamaConfig(vocab_size=49152, num_key_value_heads=2, tie_word_embeddings=True, **_BODY),
                None,
            ),
            Family("gpt2", tf.GPT2Model, tf.GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4), None),
            Family("vit", tf.ViTModel, tf.ViTConfig(**vision), small_vit),
            Family(
                "dinov2",
                tf.Dinov2Model,
                tf.Dinov2Config(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, mlp_ratio=2),
                tf.BitImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
            ),
            Family("clip", tf.CLIPVisionModel, tf.CLIPVisionConfig(**vision), small_vit),
            Family("siglip", tf.SiglipVisionModel, tf.SiglipVisionConfig(**vision), small_vit),
            Family(
                "siglip2",
                tf.Siglip2VisionModel,
                tf.Siglip2VisionConfig(num_patches=16, patch_size=8, **_BODY),
                tf.Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16),
            ),
        )
    }


FAMILY_NAMES = tuple(families())


def dinov2_with_registers(registers: int = 4) -> Family:
    """The tiny DINOv2 with `registers` register tokens between CLS and the patches (kept out of families():
    the capture is the same code path as plain DINOv2, only the token bookkeeping differs)."""
    plain = families()["dinov2"]
    config = tf.Dinov2WithRegistersConfig(num_register_tokens=registers, **{
        k: getattr(plain.config, k)
        for k in ("image_size", "patch_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_ratio")
    })
    return Family("dinov2_registers", tf.Dinov2WithRegistersModel, config, plain.processor)
