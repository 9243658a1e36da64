"""Pack folders: built once into the cache, complete or rebuilt, never left half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.engine import packs
from models.engine.loading import ModelLoadError, load_model
from models.engine.packs import CACHE_ENV, Pack, cache_root, ensure_pack, is_complete


def _writer(calls: list):
    def build(out: Path, progress):
        calls.append(out)
        progress(0.5, "writing")
        (out / "config.json").write_text(json.dumps({"model_type": "bert"}))
        (out / "weights.bin").write_bytes(b"\0" * 1000)

    return build


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "attention-lens"


def test_built_once_then_reused_and_rebuilt_when_damaged(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    calls, seen = [], []
    pack = Pack("toy", "Toy", "toy", "a toy", build=_writer(calls))
    folder = ensure_pack(pack, progress=lambda f, m: seen.append(m))
    assert folder == tmp_path / "toy" and is_complete(folder) and len(calls) == 1
    assert "writing" in seen and seen[-1] == "Toy ready"
    assert ensure_pack(pack) == folder and len(calls) == 1  # cached
    (folder / "weights.bin").write_bytes(b"\0" * 10)  # truncated
    assert not is_complete(folder)
    ensure_pack(pack)
    assert len(calls) == 2 and is_complete(folder)
    (folder / packs._MARKER).unlink()  # interrupted before the marker
    ensure_pack(pack)
    assert len(calls) == 3


def test_a_failed_write_leaves_no_folder_behind(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))

    def disk_full(out: Path, progress):
        (out / "config.json").write_text("{}")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        ensure_pack(Pack("toy", "Toy", "toy", "a toy", build=disk_full))
    assert list(tmp_path.iterdir()) == []


def test_a_deleted_or_corrupted_pack_cache_is_rebuilt_on_load(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = load_model("pack:dinov2-small")
    folder = Path(first.source)
    assert folder.parent == tmp_path and is_complete(folder)
    # same size, garbage content: the marker cannot tell, loading does, and the pack is rebuilt
    weights = folder / "model.safetensors"
    weights.write_bytes(b"x" * weights.stat().st_size)
    again = load_model("pack:dinov2-small")
    assert is_complete(folder) and again.model.config.num_hidden_layers == 12
    import shutil

    shutil.rmtree(folder)
    assert load_model("pack:dinov2-small").model.config.num_attention_heads == 6


def test_a_failed_conversion_is_reported_once_not_retried(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    calls = []

    def disk_full(out: Path, progress):
        calls.append(out)
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(packs.PACKS, "toy", Pack("toy", "Toy", "toy", "a toy", build=disk_full))
    with pytest.raises(ModelLoadError, match="Could not prepare the Toy pack: .*No space"):
        load_model("pack:toy")
    assert len(calls) == 1
