"""Fixtures the atlas tests share."""

from __future__ import annotations

import pytest

from tests.tiny_models import families


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm):
    """A tiny random BERT with MiniLM's tokenizer, as a from_pretrained folder (fast to load in every actor)."""
    return str(families()["bert"].save(tmp_path_factory.mktemp("atlas") / "bert", tokenizer=minilm.processor))
