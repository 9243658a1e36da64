"""One loading path for packs, hub ids and folders, and clear messages when it fails."""

from __future__ import annotations

import time

import pytest
import torch
from transformers import AutoTokenizer, ResNetConfig, ResNetModel

from models.dates.model import date_tokenizer
from models.engine.capture import CaptureError, capture_image, capture_text
from models.engine.lens_attention import LENS_ATTENTION
from models.engine.loading import ModelLoadError, load_model, pick_dtype
from models.text.seq2seq import translate_with_attention
from tests.tiny_models import FAMILY_NAMES, families, seq2seq_families

FAMILIES = families()


@pytest.fixture(scope="module")
def pack_tokenizers(minilm, smollm2):
    return {"bert": minilm.processor, "llama": smollm2.processor, "gpt2": None}


@pytest.mark.parametrize("name", [n for n in FAMILY_NAMES if n != "gpt2"])
def test_every_family_loads_from_a_folder_and_captures(name, tmp_path, pack_tokenizers):
    family = FAMILIES[name]
    folder = family.save(tmp_path / name, tokenizer=pack_tokenizers.get(name))
    loaded = load_model(str(folder))
    assert loaded.model.config._attn_implementation == LENS_ATTENTION
    assert loaded.device.type == "cpu" and loaded.dtype == torch.float32
    if loaded.modality == "text":
        capture = capture_text(loaded, "Attention is all you need.")
        assert capture.tokens and capture.num_layers == 2 and capture.causal == (name == "llama")
    else:
        from PIL import Image

        capture = capture_image(loaded, Image.new("RGB", (64, 48), "teal"))
        assert capture.grid is not None and capture.num_layers == 2
        assert (capture.pooling is not None) == name.startswith("siglip")


@pytest.mark.parametrize("name", list(seq2seq_families()))
def test_encoder_decoders_load_from_a_folder_and_translate_with_all_three_kinds(name, tmp_path):
    folder = seq2seq_families()[name].save(tmp_path / name, tokenizer=date_tokenizer())  # 85 words < 100 ids
    loaded = load_model(str(folder))
    assert loaded.encoder_decoder and loaded.exposes_scores and loaded.modality == "text" and not loaded.causal
    assert loaded.model.config._attn_implementation == LENS_ATTENTION
    capture = translate_with_attention(loaded, "the first of may nineteen ninety", max_new_tokens=4)
    assert [len(capture.encoder), len(capture.decoder), len(capture.cross)] == [2, 2, 2]
    assert capture.cross[0].weights.shape == (4, len(capture.decoder_tokens), len(capture.source_tokens))
    with pytest.raises(CaptureError, match="encoder–decoder"):  # the single-stack capture says where to go
        capture_text(loaded, "the first of may")


def test_the_shipped_dates_model_loads_by_name_as_a_folder():
    loaded = load_model("shipped:dates")
    assert (loaded.family, loaded.encoder_decoder) == ("marian", True)
    assert loaded.source.endswith("assets/dates_model")
    with pytest.raises(ModelLoadError, match="no shipped model called 'nope'"):
        load_model("shipped:nope")


def test_vision_towers_load_from_full_image_text_checkpoints(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32),
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(tmp_path)
    FAMILIES["vit"].processor.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path))
    assert loaded.modality == "vision" and type(loaded.model).__name__ == "CLIPVisionModel"


def _message(name: str) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as info:
        load_model(name)
    return str(info.value), time.monotonic() - start


def test_unknown_ids_and_missing_folders_are_named_clearly():
    for name in ("./no/such/folder", "not a model id!", "/tmp/definitely-missing-model"):
        message, seconds = _message(name)
        assert "neither a folder here nor" in message and seconds < 3
    message, _ = _message("pack:nope")
    assert "no offline pack called 'nope'" in message
    message, _ = _message("   ")
    assert "Type a model id" in message


def test_a_hub_id_without_network_fails_fast_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # nothing cached
    message, seconds = _message("some-org/some-model-that-is-not-cached")
    assert "cannot be reached" in message or "neither a folder here nor a model on the" in message
    assert seconds < 10


def test_a_model_without_attention_is_refused(tmp_path):
    ResNetModel(ResNetConfig(hidden_sizes=[8, 8, 8, 8], embedding_size=8, depths=[1, 1, 1, 1])).save_pretrained(
        tmp_path
    )
    message, _ = _message(str(tmp_path))
    assert "no attention layers" in message or "attention" in message.lower()


def test_broken_folders_get_a_clear_message(tmp_path, minilm):
    bad_json = tmp_path / "bad_json"
    bad_json.mkdir()
    (bad_json / "config.json").write_text("{ not json")
    assert "valid transformers config.json" in _message(str(bad_json))[0]

    no_weights = tmp_path / "no_weights"
    FAMILIES["bert"].config.save_pretrained(no_weights)
    AutoTokenizer.from_pretrained(minilm.source).save_pretrained(no_weights)
    assert "no weights" in _message(str(no_weights))[0]

    empty = tmp_path / "empty"
    empty.mkdir()
    message, _ = _message(str(empty))
    assert "config.json" in message


def test_dtype_is_float32_on_the_cpu():
    assert pick_dtype(torch.device("cpu"), "float16") == torch.float32
    assert pick_dtype(torch.device("cuda"), "bfloat16") == torch.bfloat16
