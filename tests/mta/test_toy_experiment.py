"""models.mta.toy_experiment: one command trains both models over seeds; the shipped results are reproducible."""

from __future__ import annotations

import json
import statistics

import pytest

from models.mta.toy_experiment import SHIPPED, main, results_markdown, shipped_runs, summary
from models.mta.toy_model import error_rate, load_toy_model
from models.mta.toy_task import ToyTask


def test_one_command_trains_both_models_on_every_seed(tmp_path):
    results = main(["--out", str(tmp_path), "--block-size", "3", "--blocks", "3", "--steps", "20", "--seeds", "0", "1",
                    "--dim", "16", "--layers", "1", "--eval-every", "10", "--workers", "2"])
    runs = sorted((r["model"], r["seed"]) for r in results)
    assert runs == [("baseline", 0), ("baseline", 1), ("mta", 0), ("mta", 1)]
    assert set(shipped_runs(tmp_path)) == {"baseline-seed0", "baseline-seed1", "mta-seed0", "mta-seed1"}
    for result in results:  # every checkpoint reloads to the error rate that was reported for it
        model, task = load_toy_model(tmp_path / f"{result['model']}-seed{result['seed']}")
        assert error_rate(model, task) == result["error"]
        log = [json.loads(line) for line in (tmp_path / f"{result['model']}-seed{result['seed']}" / "log.jsonl")
               .read_text().splitlines()]
        assert [row["step"] for row in log] == [10, 20]
    assert json.loads((tmp_path / "results.json").read_text()) == results
    table = (tmp_path / "results.md").read_text()
    assert "| Transformer |" in table and "| MTA |" in table and "python -m models.mta.toy_experiment --out" in table


def test_summary_is_mean_and_sample_std_in_percent():
    results = [{"model": "mta", "error": e, "seed": i, "steps_per_second": 1.0} for i, e in enumerate((0.1, 0.3, 0.2))]
    mean, std = summary(results)["mta"]
    assert mean == pytest.approx(20.0) and std == pytest.approx(statistics.stdev([10, 30, 20]))
    table = results_markdown(results, ToyTask(5, 8), "cmd")
    assert "| MTA | 10.0 / 30.0 / 20.0 | 20.0 ± 10.0 | 0.1 ± 0.1 |" in table  # the paper's N = 5 "all" figure


def test_the_shipped_checkpoints_give_the_error_rates_the_readme_quotes():
    results = json.loads((SHIPPED / "results.json").read_text())
    runs = shipped_runs()
    assert len(runs) == len(results) == 6
    for result in results:
        model, task = load_toy_model(runs[f"{result['model']}-seed{result['seed']}"])
        assert error_rate(model, task) == result["error"]
