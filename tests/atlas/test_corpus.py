"""Corpus files: every supported format reads; every bad one is refused in one sentence."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
