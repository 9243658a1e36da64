"""models.text.ablation: removing heads changes only what comes after them, measured both ways."""

from __future__ import annotations

import pytest
import torch

from models.engine.capture import CaptureError, capture_encoded, encode_text
from models.text.ablation import ablate_heads

SENTENCE = "The animal didn't cross the street because it was too tired."


@pytest.mark.parametrize("mean", [False, True], ids=["zero", "mean"])
def test_a_removed_head_changes_the_next_token_and_only_the_later_maps(smollm2, mean):
    encoded, _ = encode_text(smollm2, SENTENCE)
    original = capture_encoded(smollm2, encoded)
    result = ablate_heads(smollm2, original, encoded, [(3, 1), (3, 4), (5, 0)], mean=mean)
    assert result.first_layer == 3 and result.map_change.shape == (original.num_layers, original.num_heads)
    assert (result.map_change[:3] == 0).all()  # layers before the first removed head read the same input
    assert (result.map_change[4:] > 0).any() and (result.map_change <= 1 + 1e-6).all()
    lm = smollm2.lm_head.detach().float()
    torch.testing.assert_close(result.next_token[0], torch.softmax(original.hidden[-1] @ lm.T, -1))
    assert result.kl_divergence() > 0
    for a, b in zip(original.layers[:3], result.ablated.layers[:3], strict=True):
        assert torch.equal(a.weights, b.weights)


def test_an_encoder_reports_how_far_its_sentence_embedding_moved(minilm):
    encoded, _ = encode_text(minilm, SENTENCE)
    original = capture_encoded(minilm, encoded)
    result = ablate_heads(minilm, original, encoded, [(0, h) for h in range(12)])
    assert result.next_token is None and result.kl_divergence() is None
    assert 0 < result.embedding_cosine < 1
    pooled = original.hidden.mean(0), result.ablated.hidden.mean(0)
    assert result.embedding_cosine == pytest.approx(float(torch.nn.functional.cosine_similarity(*pooled, dim=0)))


def test_removing_nothing_is_refused(minilm):
    encoded, _ = encode_text(minilm, SENTENCE)
    with pytest.raises(CaptureError, match="at least one head"):
        ablate_heads(minilm, capture_encoded(minilm, encoded), encoded, [])
