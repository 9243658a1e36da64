"""Train the toy task's baseline and MTA models over several seeds and report three rates per run.

    python -m models.mta.toy_experiment --out assets/toy_task --resume

Each run trains one model from scratch on one fixed training set, logs its loss and rates, and saves its
checkpoint to OUT/<model>-seed<k>/; OUT/results.json and OUT/results.md hold the table beside the paper's.
Runs go to `--workers` processes with one thread each; one progress bar counts every step. Each run saves its
whole training state every `--checkpoint-every` steps: `--resume` carries a cut run on where it stopped and
keeps finished ones; `--start-from FOLDER --steps N` carries FOLDER's runs on to N steps in `--out` instead:

    python -m models.mta.toy_experiment --out assets/toy_task/beyond_budget --start-from assets/toy_task --steps 9000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import queue
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from models.mta.toy_model import (
    RATES,
    ToyModelConfig,
    ToyTraining,
    ToyTransformer,
    answer_rates,
    save_toy_model,
)
from models.mta.toy_task import ToyTask, make_examples

# Golovneva et al. 2025, toy task, error % (mean, std over 3 seeds): (N, variant) -> model -> figures
PAPER = {
    (5, "all"): {"baseline": (51.6, 43.1), "mta": (0.1, 0.1)},
    (5, "first"): {"baseline": (78.2, None), "mta": (0.0, None)},
    (8, "all"): {"baseline": (31.2, None), "mta": (0.1, None)},
}
MODELS = ("baseline", "mta")
TEST_EXAMPLES, CURVE_EXAMPLES = 1000, 300
STEPS, DIM = 6000, 64  # what fits the 2-hour budget of six runs on a 2-core CPU (see the README)
DATA_SEED = 0  # one training and test set for every run, as the official data


@dataclass(frozen=True)
class Run:
    """One training run: which model, which seed, and every size and setting it needs."""

    model: str  # "baseline" or "mta"
    seed: int
    task: ToyTask
    dim: int
    layers: int
    heads: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    dropout: float
    rope_theta: float
    train_examples: int
    eval_every: int
    checkpoint_every: int

    @property
    def name(self) -> str:
        return f"{self.model}-seed{self.seed}"

    def config(self) -> ToyModelConfig:
        kernel = (2, 2 * self.task.block_size - 1) if self.model == "mta" else None  # c_q = 2, c_k = 2N - 1
        return ToyModelConfig(self.task.sequence_length, self.dim, self.layers, self.heads, kernel, self.rope_theta,
                              self.dropout)


def held_out_examples(task: ToyTask) -> torch.Tensor:
    """The test set (TEST_EXAMPLES, T): drawn first from the data seed, as the official generator does."""
    return make_examples(task, random.Random(DATA_SEED), TEST_EXAMPLES)


def toy_data(task: ToyTask, train_examples: int, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(training set, test set) as tokens, no prompt in both; made once per task and size, kept in `folder`."""
    path = folder / f"N{task.block_size}-b{task.blocks}-L{task.query_letters}-{task.variant}-{train_examples}.pt"
    if path.exists():
        saved = torch.load(path)
        return saved["train"], saved["test"]
    seen: set[str] = set()
    rng = random.Random(DATA_SEED)
    test = make_examples(task, rng, TEST_EXAMPLES, seen)
    train = make_examples(task, rng, train_examples, seen)  # the same stream, never a test prompt
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    torch.save({"train": train, "test": test}, partial)
    partial.replace(path)  # never a half-written set for a worker that starts at the same moment
    return train, test


def run_one(run: Run, out: Path, resume: bool = False, steps_done=None, start_from: Path | None = None) -> dict:
    """Train (or carry on), evaluate and save one model; `steps_done` (a queue) receives progress counts.

    The whole training state is saved every `checkpoint_every` steps and at the end: with `resume`, a cut run
    carries on from it, a finished one with the same settings is kept, and one asked for more steps goes on.
    `start_from`: a folder of earlier runs whose saved states a run in `out` without one of its own starts from
    (that folder is only read).
    """
    torch.set_num_threads(1)
    folder = out / run.name
    finished = folder / "result.json"
    if resume and finished.exists() and json.loads(finished.read_text())["run"] == _plain(run):
        if steps_done is not None:
            steps_done.put(run.steps)
        return json.loads(finished.read_text())
    train, test = toy_data(run.task, run.train_examples, out / "data")
    torch.manual_seed(run.seed)
    model = ToyTransformer(run.config())
    training = ToyTraining(model, run.task, train, run.batch_size, run.lr, run.warmup, run.seed)
    state_path, log, seconds = folder / "resume.pt", [], 0.0
    saved = state_path if state_path.exists() or start_from is None else start_from / run.name / state_path.name
    if resume and saved.exists():
        state = torch.load(saved, weights_only=False)
        if _settings(state["run"]) == _settings(_plain(run)) and state["training"]["step"] <= run.steps:
            training.load_state_dict(state["training"])
            log, seconds = state["log"], state["seconds"]
    if steps_done is not None:
        steps_done.put(training.step_count)

    def save_state() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        state = {"run": _plain(run), "training": training.state_dict(), "log": log,
                 "seconds": seconds + time.perf_counter() - started}
        torch.save(state, state_path.with_suffix(".part"))
        state_path.with_suffix(".part").replace(state_path)  # a run cut while saving keeps the last state

    window, started = [], time.perf_counter()
    while training.step_count < run.steps:
        window.append(training.step())
        step = training.step_count
        if steps_done is not None and step % 10 == 0:
            steps_done.put(10)
        if step % run.eval_every == 0 or step == run.steps:
            rates = answer_rates(model, run.task, test[:CURVE_EXAMPLES])
            log.append({"step": step, "loss": sum(window) / len(window), **rates,
                        "seconds": seconds + time.perf_counter() - started})
            window.clear()
        if step % run.checkpoint_every == 0 or step == run.steps:
            save_state()
    seconds += time.perf_counter() - started
    model.eval()
    save_toy_model(model, run.task, folder)
    (folder / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    result = {"model": run.model, "seed": run.seed, **answer_rates(model, run.task, test), "seconds": seconds,
              "steps_per_second": training.step_count / seconds if seconds else None, "run": _plain(run)}
    finished.write_text(json.dumps(result, indent=1))
    return result


def _plain(run: Run) -> dict:
    """A run as JSON-ready values (what results.json and the resume state record)."""
    return {**asdict(run), "task": asdict(run.task)}


def _settings(plain: dict) -> dict:
    """What must match for a saved state to carry on: everything but the number of steps and how often to log."""
    return {k: v for k, v in plain.items() if k not in ("steps", "eval_every", "checkpoint_every")}


SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "toy_task"


def shipped_runs(folder: Path = SHIPPED) -> dict[str, Path]:
    """The checkpoints a run of this script left in `folder`: {"baseline-seed42": folder, ...}, sorted."""
    if not folder.is_dir():
        return {}
    return {run.name: run for run in sorted(folder.iterdir()) if (run / "model.safetensors").exists()}


BEYOND_BUDGET = SHIPPED / "beyond_budget"  # the same runs carried on past the 2-hour budget (logs and rates only)


def learning_curve(folder: Path) -> list[dict]:
    """One run's log: a row per evaluation (step, loss, error, located, copied, seconds)."""
    path = folder / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def carried_curve(name: str) -> tuple[list[dict], int | None]:
    """One shipped run's learning curve, carried on past the budget where that was done, and the step the shipped
    checkpoint and table stop at (None when the curve is not carried on)."""
    shipped = learning_curve(SHIPPED / name)
    carried = learning_curve(BEYOND_BUDGET / name)
    if not carried or not shipped:
        return shipped, None
    return carried, shipped[-1]["step"]


def summary(results: list[dict], rate: str = "error") -> dict[str, tuple[float, float]]:
    """model -> (mean, sample std) of one rate in %, over its seeds."""
    table = {}
    for model in MODELS:
        values = [100 * r[rate] for r in results if r["model"] == model]
        if values:
            table[model] = (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return table


def results_markdown(results: list[dict], task: ToyTask, command: str) -> str:
    """The README's table: the three rates per seed and their mean ± std, the error beside the paper's."""
    paper = PAPER.get((task.block_size, task.variant), {})
    lines = [
        f"Task: N = {task.block_size}, {task.blocks} blocks, L = {task.query_letters}, variant \"{task.variant}\", "
        f"{task.sequence_length} tokens (the paper: 321). On the {TEST_EXAMPLES} test examples, greedy answers: "
        "**error** = not exactly the target block (the paper's metric); **located** = its first letter is the "
        "target's; **copied** = it is some block of the prompt.",
        "",
        "| model | rate | % per seed | mean ± std (here) | paper, mean ± std |",
        "|---|---|---|---|---|",
    ]
    for model in MODELS:
        runs = sorted((r for r in results if r["model"] == model), key=lambda r: r["seed"])
        if not runs:
            continue
        theirs = paper.get(model)
        for rate in RATES:
            mean, std = summary(runs, rate)[model]
            seeds = " / ".join(f"{100 * r[rate]:.1f}" for r in runs)
            quoted = "—" if theirs is None or rate != "error" else (
                f"{theirs[0]}" + ("" if theirs[1] is None else f" ± {theirs[1]}"))
            name = "Transformer" if model == "baseline" else "MTA"
            lines.append(f"| {name} | {rate} | {seeds} | {mean:.1f} ± {std:.1f} | {quoted} |")
    hours = sum(r["seconds"] for r in results) / 3600
    speeds = ", ".join(f"{model} {statistics.mean(r['steps_per_second'] for r in results if r['model'] == model):.1f}"
                       for model in MODELS if any(r["model"] == model for r in results))
    lines += ["", f"Training time: {hours:.2f} h of one CPU thread per run, summed; steps/s per run: {speeds}.",
              "", f"Command: `{command}`", ""]
    return "\n".join(lines)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.mta.toy_experiment", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("assets/toy_task"))
    parser.add_argument("--block-size", type=int, default=5, help="N, letters per block")
    parser.add_argument("--blocks", type=int, default=8, help="blocks per example (official: 52)")
    parser.add_argument("--variant", choices=("all", "first", "last"), default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--models", choices=MODELS, nargs="+", default=list(MODELS))
    parser.add_argument("--steps", type=int, default=STEPS, help="official: 100 000")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="official: 1e-4 over 100 000 steps")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--rope-theta", type=float, default=100_000.0)
    parser.add_argument("--train-examples", type=int, default=1_000_000, help="the fixed training set")
    parser.add_argument("--dim", type=int, default=DIM, help="official: 256")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=250, help="steps between points of the learning curve")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between saved training states")
    parser.add_argument("--resume", action="store_true", help="carry cut runs on, keep finished ones")
    parser.add_argument("--start-from", type=Path, help="carry on the runs saved in this folder (their resume.pt) "
                        "into --out, as --resume would, leaving this folder as it is")
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once, one CPU thread each")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    from tqdm import tqdm

    args = _arguments(argv)
    task = ToyTask(args.block_size, args.blocks, variant=args.variant)
    runs = [Run(model, seed, task, args.dim, args.layers, args.heads, args.steps, args.batch_size, args.lr,
                args.warmup, args.dropout, args.rope_theta, args.train_examples, args.eval_every,
                args.checkpoint_every) for seed in args.seeds for model in args.models]
    toy_data(task, args.train_examples, args.out / "data")  # once, before the workers read it
    context = multiprocessing.get_context("spawn")
    try:
        with context.Manager() as manager, ProcessPoolExecutor(args.workers, mp_context=context) as pool:
            steps_done = manager.Queue()
            futures = [pool.submit(run_one, run, args.out, args.resume or args.start_from is not None, steps_done,
                                   args.start_from) for run in runs]
            with tqdm(total=len(runs) * args.steps, unit="step", desc=f"training {len(runs)} toy models") as bar:
                while not all(f.done() for f in futures):
                    with contextlib.suppress(queue.Empty):  # nothing reported in the last half second
                        bar.update(steps_done.get(timeout=0.5))
                bar.update(bar.total - bar.n)
            results = [f.result() for f in futures]
    except KeyboardInterrupt:
        sys.exit(f"Stopped. Each run's state is saved every {args.checkpoint_every} steps: "
                 "add --resume to the same command to carry on.")
    command = "python -m models.mta.toy_experiment " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    table = results_markdown(results, task, command.strip())
    (args.out / "results.md").write_text(table)
    print(table)
    return results


if __name__ == "__main__":
    main()
