"""Tiny randomly initialised models of every family the app must read, and inputs for them.

Shape and equivalence tests run on these; anything about meaning runs on the real packs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers as tf

from models.engine.lens_attention import LENS_ATTENTION
from models.engine.loading import LoadedModel, reads_registry

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

    @property
    def exposes_scores(self) -> bool:
        """Whether the family calls transformers' attention registry (else: weights from output_attentions)."""
        return reads_registry(self.config)

    def pair(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The same random weights loaded twice: as Attention Lens loads them, and with plain eager."""
        torch.manual_seed(0)
        implementation = LENS_ATTENTION if self.exposes_scores else "eager"
        lens = self.model_class._from_config(copy.deepcopy(self.config), attn_implementation=implementation)
        _randomise_position_biases(lens)
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
        model = self.model_class._from_config(copy.deepcopy(self.config))
        _randomise_position_biases(model)
        model.save_pretrained(folder)
        if self.processor is not None:
            self.processor.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        return folder


def _randomise_position_biases(model: torch.nn.Module) -> None:
    """BEiT initialises its relative position bias table to zeros, which would hide a lost bias: draw it."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "relative_position_bias_table" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))


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
            Family("gpt2", tf.GPT2Model, tf.GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4), None),
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


def more_families() -> dict[str, Family]:
    """Families whose attention differs from the eight above: position biases in the mask (BEiT), their own
    attention code (BLOOM, MPT, Falcon with ALiBi), another scaling (GPT-2 by inverse layer index, Gemma 2's
    query_pre_attn_scalar and soft-capping) and sinks (GPT-OSS)."""
    body = dict(_BODY, vocab_size=30522)
    moe = dict(num_local_experts=4, num_experts_per_tok=2)
    return {
        f.name: f
        for f in (
            Family("beit", tf.BeitModel,
                   tf.BeitConfig(image_size=32, patch_size=8, use_relative_position_bias=True, **_BODY),
                   tf.BeitImageProcessorPil(size={"height": 32, "width": 32},
                                            crop_size={"height": 32, "width": 32})),
            Family("bloom", tf.BloomForCausalLM, tf.BloomConfig(vocab_size=30522, hidden_size=32, n_layer=2, n_head=4),
                   None),
            Family("mpt", tf.MptForCausalLM, tf.MptConfig(vocab_size=30522, d_model=32, n_layers=2, n_heads=4), None),
            Family("falcon_alibi", tf.FalconForCausalLM, tf.FalconConfig(alibi=True, **body), None),
            Family("gpt2_inverse_layer", tf.GPT2LMHeadModel,
                   tf.GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4,
                                 scale_attn_by_inverse_layer_idx=True), None),
            Family("gemma2", tf.Gemma2ForCausalLM,
                   tf.Gemma2Config(head_dim=8, num_key_value_heads=2, query_pre_attn_scalar=24,
                                   attn_logit_softcapping=2.0, **body), None),
            Family("gpt_oss", tf.GptOssForCausalLM,
                   tf.GptOssConfig(head_dim=8, num_key_value_heads=2, **moe, **body), None),
        )
    }


def all_families() -> dict[str, Family]:
    """Every family the loader accepts that the tests build: the eight, then the others."""
    return {**families(), **more_families()}


def dinov2_with_registers(registers: int = 4) -> Family:
    """The tiny DINOv2 with `registers` register tokens between CLS and the patches (kept out of families():
    the capture is the same code path as plain DINOv2, only the token bookkeeping differs)."""
    plain = families()["dinov2"]
    config = tf.Dinov2WithRegistersConfig(num_register_tokens=registers, **{
        k: getattr(plain.config, k)
        for k in ("image_size", "patch_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_ratio")
    })
    return Family("dinov2_registers", tf.Dinov2WithRegistersModel, config, plain.processor)


def seq2seq_families() -> dict[str, Family]:
    """Encoder-decoder families: BART, Marian and T5 (relative position bias in its scores), with LM heads."""
    body = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
    return {
        f.name: f
        for f in (
            Family("bart", tf.BartForConditionalGeneration, tf.BartConfig(**body), None),
            Family("marian", tf.MarianMTModel, tf.MarianConfig(pad_token_id=0, decoder_start_token_id=0, **body),
                   None),
            Family("t5", tf.T5ForConditionalGeneration,
                   tf.T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                               relative_attention_num_buckets=8, decoder_start_token_id=0), None),
        )
    }


def seq2seq_inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    """A 9-token source and a 6-token decoder input."""
    g = torch.Generator().manual_seed(seed)
    return dict(input_ids=torch.randint(3, 100, (1, 9), generator=g),
                decoder_input_ids=torch.randint(3, 100, (1, 6), generator=g))
