"""Shared fixtures: the real packs, loaded once per test session."""

from __future__ import annotations

import pytest

from models.loading import load_model


@pytest.fixture(scope="session")
def minilm():
    return load_model("pack:minilm")


@pytest.fixture(scope="session")
def smollm2():
    return load_model("pack:smollm2-135m")


@pytest.fixture(scope="session")
def dinov2():
    return load_model("pack:dinov2-small")
