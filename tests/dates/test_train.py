"""models.dates.train: one command trains, measures and saves a model that from_pretrained reads back."""

from __future__ import annotations

import json
import random

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from models.dates.model import read_target, source_text
from models.dates.task import random_example
from models.dates.train import accuracy, main


def test_a_short_run_saves_a_model_its_tokenizer_and_its_measures(tmp_path):
    results = main(["--out", str(tmp_path), "--steps", "30", "--test-examples", "20", "--dim", "32"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert len(saved["alignment"]) == 2 and all(len(row) == 4 for row in saved["alignment"])
    assert all(0 <= rate <= 1 for row in saved["alignment"] for rate in row)
    assert [json.loads(line)["step"] for line in (tmp_path / "train_log.jsonl").read_text().splitlines()] == [30]
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    example = random_example(random.Random(3), held_out=True)
    with torch.no_grad():
        out = model.generate(**tokenizer(source_text(example), return_tensors="pt"), max_new_tokens=12)
    assert isinstance(read_target(tokenizer, out[0]), str)
    test = [random_example(random.Random(10_000 + i), held_out=True) for i in range(20)]
    assert accuracy(model, tokenizer, test) == saved["test_accuracy"]  # the saved model is the one measured
