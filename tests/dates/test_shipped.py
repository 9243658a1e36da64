"""The shipped dates model (assets/dates_model) does what its results.json says: the accuracy on its held-out test
dates, and where each cross-attention head looks."""

from __future__ import annotations

import numpy as np

from models.dates.model import trained_results
from models.dates.task import held_out_example
from models.dates.train import accuracy, alignment
from models.engine.loading import load_model
from models.engine.registry import SHIPPED


def test_the_shipped_model_translates_its_test_dates_at_the_reported_accuracy_and_alignment():
    results = trained_results(SHIPPED["dates"])
    loaded = load_model("shipped:dates")  # from_pretrained on the folder, as any saved model
    test = [held_out_example(i) for i in range(results["test_examples"])]
    assert results["test_examples"] == 1000 and results["test_accuracy"] >= 0.99
    assert accuracy(loaded.model, loaded.processor, test) == results["test_accuracy"]  # exact: a count of 1000
    rates = np.asarray(alignment(loaded.model, loaded.processor, test[:200]))  # (decoder layers, heads)
    # measured on 1000 dates; on the first 200 each head's rate lies near it (a near-tie may flip on another CPU)
    assert np.abs(rates - np.asarray(results["alignment"])).max() < 0.08
    assert rates.max() > 0.75  # some head reads the words each digit comes from, most of the time


def test_other_folders_have_no_dates_results(tmp_path):
    assert trained_results(tmp_path) is None
    (tmp_path / "results.json").write_text('{"accuracy": 1}')
    assert trained_results(tmp_path) is None
