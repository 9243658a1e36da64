"""Train the toy task's baseline and MTA models over several seeds and report their error rates.

    python -m models.mta.toy_experiment --out assets/toy_task

Each run trains one model from scratch, logs its loss and error rate, and saves its checkpoint to
OUT/<model>-seed<k>/; OUT/results.json and OUT/results.md hold the table with the paper's numbers.
Runs go to `--workers` processes with one thread each; one progress bar counts every step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import queue
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from models.mta.toy_model import ToyModelConfig, ToyTransformer, error_rate, save_toy_model, train
from models.mta.toy_task import ToyTask

# Golovneva et al. 2025, toy task, error % (mean, std over 3 seeds): (N, variant) -> model -> figures
PAPER = {
    (5, "all"): {"baseline": (51.6, 43.1), "mta": (0.1, 0.1)},
    (5, "first"): {"baseline": (78.2, None), "mta": (0.0, None)},
    (8, "all"): {"baseline": (31.2, None), "mta": (0.1, None)},
}
MODELS = ("baseline", "mta")


@dataclass(frozen=True)
class Run:
    """One training run: which model, which seed, and every size it needs."""

    model: str  # "baseline" or "mta"
    seed: int
    task: ToyTask
    dim: int
    layers: int
    heads: int
    steps: int
    batch_size: int
    lr: float
    eval_every: int

    @property
    def name(self) -> str:
        return f"{self.model}-seed{self.seed}"

    def config(self) -> ToyModelConfig:
        kernel = (2, 2 * self.task.block_size - 1) if self.model == "mta" else None  # c_q = 2, c_k = 2N - 1
        return ToyModelConfig(self.task.sequence_length, self.dim, self.layers, self.heads, kernel)


def run_one(run: Run, out: Path, steps_done=None) -> dict:
    """Train, evaluate and save one model; `steps_done` (a queue) receives progress counts."""
    torch.set_num_threads(1)
    torch.manual_seed(run.seed)
    model = ToyTransformer(run.config())
    log, window, started = [], [], time.perf_counter()

    def progress(step: int, loss: float) -> None:
        window.append(loss)
        if steps_done is not None and step % 10 == 0:
            steps_done.put(10)
        if step % run.eval_every == 0 or step == run.steps:
            error = error_rate(model, run.task, examples=300, seed=777)
            log.append({"step": step, "loss": sum(window) / len(window), "error": error,
                        "seconds": time.perf_counter() - started})
            window.clear()
            model.train()

    train(model, run.task, run.steps, run.batch_size, run.lr, run.seed, progress)
    seconds = time.perf_counter() - started
    folder = save_toy_model(model, run.task, out / run.name)
    (folder / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    error = error_rate(model, run.task)  # 1000 held-out examples, greedy answers
    return {"model": run.model, "seed": run.seed, "error": error, "seconds": seconds,
            "steps_per_second": run.steps / seconds, "run": {**asdict(run), "task": asdict(run.task)}}


SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "toy_task"


def shipped_runs(folder: Path = SHIPPED) -> dict[str, Path]:
    """The checkpoints a run of this script left in `folder`: {"baseline-seed0": folder, ...}, sorted."""
    if not folder.is_dir():
        return {}
    return {run.name: run for run in sorted(folder.iterdir()) if (run / "model.safetensors").exists()}


def summary(results: list[dict]) -> dict[str, tuple[float, float]]:
    """model -> (mean, sample std) of the error rate in %, over its seeds."""
    table = {}
    for model in MODELS:
        errors = [100 * r["error"] for r in results if r["model"] == model]
        if errors:
            table[model] = (statistics.mean(errors), statistics.stdev(errors) if len(errors) > 1 else 0.0)
    return table


def results_markdown(results: list[dict], task: ToyTask, command: str) -> str:
    """The README's table: our error rates per seed and mean ± std, beside the paper's."""
    paper = PAPER.get((task.block_size, task.variant), {})
    lines = [
        f"Task: N = {task.block_size}, {task.blocks} blocks, L = {task.query_letters}, variant \"{task.variant}\", "
        f"{task.sequence_length} tokens (the paper: 319). Error: the greedy answer is not exactly right, "
        "on 1000 new examples.",
        "",
        "| model | error % per seed | mean ± std (here) | paper, mean ± std | steps/s per run |",
        "|---|---|---|---|---|",
    ]
    for model, (mean, std) in summary(results).items():
        runs = sorted((r for r in results if r["model"] == model), key=lambda r: r["seed"])
        seeds = " / ".join(f"{100 * r['error']:.1f}" for r in runs)
        speed = statistics.mean(r["steps_per_second"] for r in runs)
        theirs = paper.get(model)
        quoted = "—" if theirs is None else f"{theirs[0]}" + ("" if theirs[1] is None else f" ± {theirs[1]}")
        lines.append(f"| {'Transformer' if model == 'baseline' else 'MTA'} | {seeds} | {mean:.1f} ± {std:.1f} | "
                     f"{quoted} | {speed:.1f} |")
    return "\n".join([*lines, "", f"Command: `{command}`", ""])


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.mta.toy_experiment", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("assets/toy_task"))
    parser.add_argument("--block-size", type=int, default=5, help="N, letters per block")
    parser.add_argument("--blocks", type=int, default=8, help="blocks per example: the answer and distractors")
    parser.add_argument("--variant", choices=("all", "first", "last"), default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", choices=MODELS, nargs="+", default=list(MODELS))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once, one CPU thread each")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    from tqdm import tqdm

    args = _arguments(argv)
    task = ToyTask(args.block_size, args.blocks, variant=args.variant)
    runs = [Run(model, seed, task, args.dim, args.layers, args.heads, args.steps, args.batch_size, args.lr,
                args.eval_every) for seed in args.seeds for model in args.models]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        steps_done = manager.Queue()
        futures = [pool.submit(run_one, run, args.out, steps_done) for run in runs]
        with tqdm(total=len(runs) * args.steps, unit="step", desc=f"training {len(runs)} toy models") as bar:
            while not all(f.done() for f in futures):
                with contextlib.suppress(queue.Empty):  # nothing reported in the last half second
                    bar.update(steps_done.get(timeout=0.5))
            bar.update(bar.total - bar.n)
        results = [f.result() for f in futures]
    command = "python -m models.mta.toy_experiment " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    table = results_markdown(results, task, command.strip())
    (args.out / "results.md").write_text(table)
    print(table)
    return results


if __name__ == "__main__":
    main()
