"""The dates model: a word-level tokenizer over the task's vocabulary and a small Marian encoder-decoder, both
saved so that `from_pretrained(<folder>)` reads them like any model."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

from models.dates.task import DateExample, vocabulary

SPECIALS = ("<pad>", "</s>", "<unk>")  # pad also starts the decoder, as in Marian
RESULTS = "results.json"  # what models.dates.train measured, saved beside the model


def trained_results(folder: str | Path) -> dict | None:
    """What models.dates.train measured for the model in `folder` (accuracy, per-head alignment), or None when
    the folder holds some other model."""
    path = Path(folder) / RESULTS
    if not path.is_file():
        return None
    results = json.loads(path.read_text())
    return results if {"test_accuracy", "alignment"} <= results.keys() else None


def date_tokenizer() -> PreTrainedTokenizerFast:
    """Words, lower-cased (and the output's characters, written with spaces between them) to ids; EOS appended;
    decoded without spaces, so an output reads "1999-03-21"."""
    vocab = {token: i for i, token in enumerate((*SPECIALS, *vocabulary()))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def source_text(example: DateExample) -> str:
    return " ".join(example.words)


def target_text(example: DateExample) -> str:
    """The ISO date as the tokenizer reads it: one token per character."""
    return " ".join(example.target)


def read_target(tokenizer: PreTrainedTokenizerFast, ids) -> str:
    """Generated ids back to "1999-03-21"."""
    return tokenizer.decode(ids, skip_special_tokens=True)


def date_model(tokenizer: PreTrainedTokenizerFast, dim: int = 64, layers: int = 2, heads: int = 4) -> MarianMTModel:
    """A small Marian model built from its config (random weights), tied embeddings."""
    config = MarianConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=len(tokenizer), d_model=dim, encoder_layers=layers,
        decoder_layers=layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=4 * dim, decoder_ffn_dim=4 * dim, max_position_embeddings=32, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1, dropout=0.1, attention_dropout=0.0,
        share_encoder_decoder_embeddings=True, scale_embedding=True,
    )
    return MarianMTModel(config)
