"""The memory a capture will hold, estimated before it runs, against what real captures of the packs hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.engine.budget import budget_refusal, capture_bytes, held_bytes, machine_budget_mb, tokens_that_fit
from models.engine.capture import CaptureError, capture_text
from models.engine.loading import load_model
from tests.tiny_models import more_families


@pytest.mark.parametrize("pack", ["minilm", "smollm2"])
def test_the_estimate_matches_what_a_real_capture_holds(pack, request):
    loaded = request.getfixturevalue(pack)
    for words in (5, 60):
        capture = capture_text(loaded, "attention lens measures " * words)
        estimate = held_bytes(loaded.model.config, capture.seq_len)
        assert abs(estimate - capture.nbytes) <= 0.02 * capture.nbytes  # labels aside


def test_a_capture_over_the_budget_is_refused_before_it_runs_naming_what_fits(minilm):
    config = minilm.model.config
    fits = tokens_that_fit(config, 8 * 2**20)
    assert capture_bytes(config, fits) <= 8 * 2**20 < capture_bytes(config, fits + 1)
    message = budget_refusal(config, 400, budget_mb=8)
    assert f"over this server's 8 MB per capture. Up to {fits} tokens fit" in message
    assert "6 layers × 12 heads" in message and budget_refusal(config, fits, budget_mb=8) is None
    with pytest.raises(CaptureError, match=f"Up to {fits} tokens fit"):
        capture_text(minilm, "word " * 400, budget_mb=8)
    assert capture_text(minilm, "word " * 10, budget_mb=8).seq_len == 12  # a short one still runs


def test_a_model_that_gives_only_weights_is_budgeted_for_every_map_it_keeps(tmp_path, minilm):
    loaded = load_model(str(more_families()["bloom"].save(tmp_path / "bloom", tokenizer=minilm.processor)))
    assert not loaded.exposes_scores
    config = loaded.model.config
    for words in (5, 60):
        capture = capture_text(loaded, "attention lens measures " * words)
        estimate = held_bytes(config, capture.seq_len, stored_maps=True)
        assert abs(estimate - capture.nbytes) <= 0.05 * capture.nbytes
    fits = tokens_that_fit(config, 4 * 2**20, stored_maps=True)
    assert capture_bytes(config, fits, True) <= 4 * 2**20 < capture_bytes(config, fits + 1, True)
    assert fits < tokens_that_fit(config, 4 * 2**20)
    with pytest.raises(CaptureError, match=f"every layer's maps, as this model gives only those.*Up to {fits} tokens"):
        capture_text(loaded, "word " * 400, budget_mb=4)


def test_without_a_server_budget_a_capture_is_refused_only_past_half_this_machines_memory(minilm):
    budget = machine_budget_mb()
    assert 0 < budget < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    message = budget_refusal(minilm.model.config, 10**6, budget, machine=True)
    assert f"over half this machine's memory ({budget:,.0f} MB). Up to" in message
    assert budget_refusal(minilm.model.config, 512, budget, machine=True) is None


def _resident(field: str) -> int:
    """Bytes of this process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc (Linux)."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


@pytest.mark.parametrize("pack", ["minilm", "smollm2"])
def test_the_estimate_covers_a_real_captures_peak_with_its_overview_and_a_map(pack, request):
    """Measured, not computed: the resident peak while a 512-token capture runs (with the Maps view's overview) and
    one of its maps is read stays within `capture_bytes` (the peak is reset through /proc/self/clear_refs)."""
    loaded = request.getfixturevalue(pack)
    text = "Attention lens measures where each token looks, layer by layer. " * 60
    capture_text(loaded, text, max_tokens=16, overview=True)  # first-call allocations out of the way
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM := VmRSS
    before = _resident("VmRSS")
    capture = capture_text(loaded, text, max_tokens=512, overview=True)
    capture.layers[0].head_weights(0)
    assert capture.seq_len == 512 and capture.overview is not None
    assert _resident("VmHWM") - before <= capture_bytes(loaded.model.config, capture.seq_len)
