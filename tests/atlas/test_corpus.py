"""Corpus files: every supported format reads; every bad one is refused in one sentence."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants

from models.atlas.corpus import BUNDLED, MAX_TEXT_CHARS, CorpusError, read_corpus

TEXTS = ["The cat sat on the mat.", "Ein Hund läuft, schnell!", "日本語の文です。"]


def test_the_bundled_corpus_is_real_english_with_its_licence():
    texts = read_corpus()
    assert len(texts) == 4000 and all(len(t.split()) >= 5 for t in texts)
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in (BUNDLED.parent / "WORDNET-LICENSE").read_text()


def test_every_format_gives_the_same_texts(tmp_path):
    (tmp_path / "c.txt").write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(TEXTS)))
    (tmp_path / "c.csv").write_text("id,text\n" + "\n".join(f'{i},"{t}"' for i, t in enumerate(TEXTS)))
    pq.write_table(pa.table({"text": TEXTS, "id": [0, 1, 2]}), tmp_path / "c.parquet")
    for name in ("c.txt", "c.jsonl", "c.csv", "c.parquet"):
        assert read_corpus(tmp_path / name) == TEXTS, name


def _bad_files():
    yield "empty.txt", b"", "holds no text"
    yield "blank.txt", b"\n  \n", "holds no text"
    yield "binary.txt", bytes(range(256)) * 4, "looks like a binary file"
    latin = "caf\u00e9 in latin-1\n".encode("latin-1")
    yield "mixed.txt", b"fine line\n" + latin, "Line 2 of mixed.txt is not UTF-8"
    yield "long.txt", b"short\n" + b"x" * (10 * 2**20) + b"\n", f"over the {MAX_TEXT_CHARS:,} an atlas reads"
    yield "column.csv", b"id,body\n1,hello\n", "has no \"text\" column (its columns: id, body)"
    yield "column.jsonl", b'{"body": "hello"}\n', "Line 1 of column.jsonl has no \"text\" string"
    yield "broken.jsonl", b'{"text": "hello"\n', "Line 1 of broken.jsonl is not JSON"
    yield "broken.parquet", b"PAR1 not really", "is not a readable Parquet file"
    yield "corpus.docx", b"PK\x03\x04", "give a .txt, .jsonl, .csv, .parquet file"


@pytest.mark.parametrize("case", range(10))
def test_each_bad_corpus_gets_one_sentence(tmp_path, case):
    name, data, message = list(_bad_files())[case]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(CorpusError, match=None) as caught:
        read_corpus(tmp_path / name)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_parquet_file_without_a_text_column_names_its_columns(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "c.parquet")
    with pytest.raises(CorpusError, match=r"no \"text\" column \(its columns: body\)"):
        read_corpus(tmp_path / "c.parquet")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CorpusError, match="There is no corpus file at"):
        read_corpus(tmp_path / "nowhere.txt")


def _offline_hub(monkeypatch, cache):
    """As on a machine without network: only the local cache answers (huggingface_hub reads its settings once)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def test_a_hub_dataset_that_cannot_be_reached_is_one_sentence(monkeypatch, tmp_path):
    _offline_hub(monkeypatch, tmp_path)
    with pytest.raises(CorpusError, match="is not in the local cache and the hub cannot be reached"):
        read_corpus("hub:someone/some-corpus")


def test_a_hub_dataset_in_the_local_cache_is_read_file_by_file(monkeypatch, tmp_path):
    """A dataset snapshot as huggingface_hub caches it (refs/main -> snapshots/<commit>/...), read offline."""
    repo = tmp_path / "hub" / "datasets--someone--corpus"
    snapshot = repo / "snapshots" / "0" / "data"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0")
    pq.write_table(pa.table({"text": TEXTS[:2]}), snapshot / "train-00000.parquet")
    (snapshot / "extra.jsonl").write_text(json.dumps({"text": TEXTS[2]}) + "\n")
    _offline_hub(monkeypatch, tmp_path / "hub")
    assert read_corpus("hub:someone/corpus") == [TEXTS[2], *TEXTS[:2]]  # files in path order: extra, then train
