"""models.mta.toy_experiment: one command trains both models over seeds, a cut run resumes, the shipped results
are reproducible."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from models.mta.toy_experiment import (
    BEYOND_BUDGET,
    SHIPPED,
    carried_curve,
    held_out_examples,
    learning_curve,
    main,
    results_markdown,
    shipped_runs,
    summary,
    toy_data,
)
from models.mta.toy_model import RATES, answer_rates, load_toy_model
from models.mta.toy_task import ToyTask

SMALL = ["--block-size", "3", "--blocks", "3", "--dim", "16", "--layers", "1", "--train-examples", "300",
         "--warmup", "5", "--lr", "1e-3", "--eval-every", "10"]


def test_one_command_trains_both_models_on_every_seed(tmp_path):
    results = main(["--out", str(tmp_path), "--steps", "20", "--seeds", "0", "1", "--workers", "2", *SMALL])
    runs = sorted((r["model"], r["seed"]) for r in results)
    assert runs == [("baseline", 0), ("baseline", 1), ("mta", 0), ("mta", 1)]
    assert set(shipped_runs(tmp_path)) == {"baseline-seed0", "baseline-seed1", "mta-seed0", "mta-seed1"}
    _, test = toy_data(ToyTask(3, 3), 300, tmp_path / "data")
    assert torch.equal(test, held_out_examples(ToyTask(3, 3)))
    for result in results:  # every checkpoint reloads to the rates that were reported for it
        model, task = load_toy_model(tmp_path / f"{result['model']}-seed{result['seed']}")
        assert answer_rates(model, task, test) == {rate: result[rate] for rate in RATES}
        log = learning_curve(tmp_path / f"{result['model']}-seed{result['seed']}")
        assert [row["step"] for row in log] == [10, 20] and set(RATES) <= set(log[0])
    assert json.loads((tmp_path / "results.json").read_text()) == results
    table = (tmp_path / "results.md").read_text()
    assert "| Transformer | copied |" in table and "| MTA | error |" in table
    assert "python -m models.mta.toy_experiment --out" in table


def test_a_cut_run_resumes_where_it_stopped_and_a_finished_one_is_kept(tmp_path):
    """30 steps straight, or 20 steps (as a run cut there leaves its state) then --resume to 30: the same model."""
    args = ["--seeds", "0", "--models", "mta", "--workers", "1", "--checkpoint-every", "20", *SMALL]
    straight = main(["--out", str(tmp_path / "straight"), "--steps", "30", *args])[0]
    cut = tmp_path / "cut"
    main(["--out", str(cut), "--steps", "20", *args])
    (cut / "mta-seed0" / "model.safetensors").unlink()  # only the saved state is left, as after a cut
    resumed = main(["--out", str(cut), "--steps", "30", "--resume", *args])[0]
    assert resumed["run"]["steps"] == 30
    assert {rate: resumed[rate] for rate in RATES} == {rate: straight[rate] for rate in RATES}
    assert learning_curve(cut / "mta-seed0") == [
        {**row, "seconds": pytest.approx(row["seconds"], abs=60)} for row in learning_curve(tmp_path / "straight"
                                                                                          / "mta-seed0")]
    straight_model, _ = load_toy_model(tmp_path / "straight" / "mta-seed0")
    resumed_model, _ = load_toy_model(cut / "mta-seed0")
    for name, value in straight_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], value), name
    kept = main(["--out", str(cut), "--steps", "30", "--resume", *args])[0]
    assert kept == resumed  # finished with these settings: kept, not retrained


def test_runs_carried_on_from_another_folder_equal_longer_runs_and_leave_that_folder_as_it_was(tmp_path):
    """20 steps in one folder, then --start-from it to 30 in another: the 30-step run, and the first folder intact."""
    args = ["--seeds", "0", "--models", "mta", "--workers", "1", "--checkpoint-every", "10", *SMALL]
    straight = main(["--out", str(tmp_path / "straight"), "--steps", "30", *args])[0]
    first = tmp_path / "first"
    main(["--out", str(first), "--steps", "20", *args])
    before = {path.name: path.read_bytes() for path in (first / "mta-seed0").iterdir()}
    carried = main(["--out", str(tmp_path / "on"), "--steps", "30", "--start-from", str(first), *args])[0]
    assert {rate: carried[rate] for rate in RATES} == {rate: straight[rate] for rate in RATES}
    straight_model, _ = load_toy_model(tmp_path / "straight" / "mta-seed0")
    carried_model, _ = load_toy_model(tmp_path / "on" / "mta-seed0")
    for name, value in straight_model.state_dict().items():
        assert torch.equal(carried_model.state_dict()[name], value), name
    assert {path.name: path.read_bytes() for path in (first / "mta-seed0").iterdir()} == before
    curve = learning_curve(tmp_path / "on" / "mta-seed0")
    assert [row["step"] for row in curve] == [10, 20, 30]
    assert curve[:2] == learning_curve(first / "mta-seed0")  # carried over, timings and all (from scratch: its own)


def test_summary_is_mean_and_sample_std_in_percent():
    results = [{"model": "mta", "error": e, "located": 1.0, "copied": 1.0, "seed": i, "seconds": 60.0,
                "steps_per_second": 1.0} for i, e in enumerate((0.1, 0.3, 0.2))]
    mean, std = summary(results)["mta"]
    assert mean == pytest.approx(20.0) and std == pytest.approx(statistics.stdev([10, 30, 20]))
    table = results_markdown(results, ToyTask(5, 8), "cmd")
    assert "| MTA | error | 10.0 / 30.0 / 20.0 | 20.0 ± 10.0 | 0.1 ± 0.1 |" in table  # the paper's N = 5 "all"
    assert "| MTA | copied | 100.0 / 100.0 / 100.0 | 100.0 ± 0.0 | — |" in table


def test_the_shipped_checkpoints_give_the_rates_the_readme_quotes():
    results = json.loads((SHIPPED / "results.json").read_text())
    runs = shipped_runs()
    assert len(runs) == len(results) == 6
    test = held_out_examples(ToyTask(**results[0]["run"]["task"]))
    for result in results:
        model, task = load_toy_model(runs[f"{result['model']}-seed{result['seed']}"])
        assert answer_rates(model, task, test) == {rate: result[rate] for rate in RATES}
        assert learning_curve(runs[f"{result['model']}-seed{result['seed']}"])[-1]["step"] == result["run"]["steps"]


def test_the_runs_carried_past_the_budget_begin_where_the_shipped_runs_end():
    """The beyond-budget logs are the shipped runs carried on from their saved states: the same settings but the
    steps, the same curve up to the budget's last step (timings included: those rows come with the state), then
    further."""
    carried = json.loads((BEYOND_BUDGET / "results.json").read_text())
    shipped = {(r["model"], r["seed"]): r for r in json.loads((SHIPPED / "results.json").read_text())}
    assert sorted((r["model"], r["seed"]) for r in carried) == sorted(shipped)
    for result in carried:
        own = shipped[result["model"], result["seed"]]
        assert {**result["run"], "steps": own["run"]["steps"]} == own["run"]
        assert result["run"]["steps"] > own["run"]["steps"]
        name = f"{result['model']}-seed{result['seed']}"
        curve, budget = carried_curve(name)
        before = learning_curve(SHIPPED / name)
        assert budget == own["run"]["steps"] == before[-1]["step"]
        assert curve[: len(before)] == before
        assert curve[-1]["step"] == result["run"]["steps"] and set(RATES) <= set(curve[-1])
