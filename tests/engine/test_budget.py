"""The memory a capture will hold, estimated before it runs, against what real captures of the packs hold."""

from __future__ import annotations

import pytest

from models.engine.budget import budget_refusal, capture_bytes, held_bytes, tokens_that_fit
from models.engine.capture import CaptureError, capture_text


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
