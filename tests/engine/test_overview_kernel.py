"""models.engine.overview_kernel: which layers the compiled walk takes, and how it is built (its numbers are checked
against torch's walk in test_overview.py, test_recording.py and test_long_inputs.py)."""

from __future__ import annotations

import ctypes
import logging

import pytest
import torch

from models.engine import overview_kernel
from models.engine.packs import CACHE_ENV
from models.engine.recording import LayerAttention


def _layer(d: int = 32, dtype: torch.dtype = torch.float32, value_width: int | None = None, **extra) -> LayerAttention:
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(2, 6, d, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(2, 6, value_width or d, generator=g, dtype=dtype)
    return LayerAttention("layer", None, None, None, scaling=0.5, query=q, key=k, value=v, **extra)


def test_it_takes_the_common_case_only():
    assert overview_kernel.supports(_layer(32)) and overview_kernel.supports(_layer(64))
    assert not overview_kernel.supports(_layer(8))  # heads narrower than two vectors
    assert not overview_kernel.supports(_layer(32, torch.float64))
    assert not overview_kernel.supports(_layer(32, softcap=30.0))  # scores the kernel does not compute
    assert not overview_kernel.supports(_layer(32, bias=torch.zeros(1, 6, 6)))
    assert not overview_kernel.supports(_layer(32, sink=torch.zeros(2)))
    assert not overview_kernel.supports(_layer(64, value_width=32))  # values narrower than keys (MLA)
    strided = _layer(64)
    strided = LayerAttention("layer", None, None, None, scaling=0.5, query=strided.query[..., ::2],
                             key=strided.key[..., ::2], value=strided.value[..., ::2])
    assert not overview_kernel.supports(strided)  # a head's vector must be contiguous


@pytest.fixture
def compiler():
    if overview_kernel._compiler() is None:
        pytest.skip("no C compiler here")


def test_it_is_built_once_into_the_cache_and_loads(compiler, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    built = overview_kernel.build()
    assert built.parent == tmp_path / "kernels" and built.is_file()
    stamp = built.stat().st_mtime_ns
    assert overview_kernel.build() == built and built.stat().st_mtime_ns == stamp  # not compiled again
    assert list(built.parent.iterdir()) == [built]  # nothing half-built left beside it
    assert hasattr(ctypes.CDLL(str(built)), "walk_layer")


def test_a_compiler_that_fails_leaves_the_torch_walk_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a compiler that fails on everything
    with pytest.raises(RuntimeError, match="false failed"):
        overview_kernel.build()
    with caplog.at_level(logging.WARNING):
        assert overview_kernel._library.__wrapped__() is None
    assert "torch's" in caplog.text


def test_switched_off_it_is_not_even_built(compiler, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(overview_kernel.DISABLE_ENV, "1")
    assert overview_kernel._library.__wrapped__() is None
    assert not (tmp_path / "kernels").exists()
    monkeypatch.delenv(overview_kernel.DISABLE_ENV)
    assert overview_kernel._library.__wrapped__() is not None  # the same cache with the switch off: built
    assert (tmp_path / "kernels").exists()
