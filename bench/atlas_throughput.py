"""Head atlas job: throughput on Ray (one and two actors) against the plain single-process loop that computes
the same numbers, peak memory per actor, and the wall time of whole atlases over the bundled corpus.

    .venv/bin/python bench/atlas_throughput.py [--texts 400] [--skip-full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.atlas.atlas import open_atlas  # noqa: E402
from models.atlas.corpus import read_corpus  # noqa: E402
from models.atlas.job import AtlasJob, build_atlas  # noqa: E402

MODELS = ("pack:minilm", "pack:smollm2-135m")


class ActorMemory:
    """Peak resident memory of each Ray map worker (the actors holding the model), sampled from /proc."""

    def __init__(self):
        self.peaks: dict[int, float] = {}
        self._before = set(self._workers())  # workers of an earlier run still shutting down are not this run's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _workers() -> list[Path]:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and b"MapWorker" in (proc / "cmdline").read_bytes():
                    found.append(proc)
            except OSError:
                continue
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for proc in self._workers():
                if proc in self._before:
                    continue
                try:
                    rss = next(int(line.split()[1]) for line in (proc / "status").read_text().splitlines()
                               if line.startswith("VmRSS:")) / 1024
                except (OSError, StopIteration, ValueError):
                    continue
                self.peaks[int(proc.name)] = max(self.peaks.get(int(proc.name), 0.0), rss)

    def __enter__(self) -> ActorMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def timed(job: AtlasJob, engine: str, actors: int | None) -> tuple[float, float, float, list[float]]:
    """(wall seconds, tokens/s over the whole run, tokens/s once the first shard is saved, actor peaks MB)."""
    marks: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as folder, ActorMemory() as memory:
        start = time.perf_counter()
        tally = build_atlas(job, Path(folder) / "atlas.duckdb", engine, actors=actors,
                            progress=lambda done, total, tokens: marks.append((time.perf_counter(), tokens)))
        wall = time.perf_counter() - start
    saved = [(t, k) for t, k in marks if k > 0]
    steady = (saved[-1][1] - saved[0][1]) / (saved[-1][0] - saved[0][0]) if len(saved) > 2 else float("nan")
    return wall, tally.tokens / wall, steady, sorted(memory.peaks.values())


def top_heads(path: Path, measure: str, k: int = 3) -> str:
    atlas = open_atlas(path)
    grid = atlas.grid(measure)
    order = np.argsort(-np.nan_to_num(grid, nan=-np.inf), axis=None)[:k]
    return ", ".join(f"L{i // atlas.num_heads}H{i % atlas.num_heads} {grid.flat[i]:.3f}" for i in order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--skip-full", action="store_true", help="only the throughput table")
    args = parser.parse_args()
    texts = tuple(read_corpus()[: args.texts])
    print(f"Throughput over the first {len(texts)} bundled texts (no probes, no importance: the same per-text "
          "measures in every run)\n")
    print("| model | engine | wall s | tokens/s (whole run) | tokens/s (after the first shard) | "
          "Ray's overhead (after the first shard) | actor peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for model in MODELS:
        job = AtlasJob(model, "wordnet-examples.txt", texts, probes=0, importance_texts=0)
        plain = timed(job, "plain", None)
        rows = [("plain loop", plain)] + [(f"ray, {n} actor{'s' * (n > 1)}", timed(job, "ray", n)) for n in (1, 2)]
        for name, (wall, whole, steady, peaks) in rows:
            # time per token on Ray over time per token in the plain loop, minus one: negative when Ray is faster
            overhead = "—" if name == "plain loop" else f"{(plain[2] / steady - 1) * 100:+.0f} %"
            memory = "—" if name == "plain loop" else ", ".join(f"{p:.0f}" for p in peaks)
            print(f"| {model} | {name} | {wall:.1f} | {whole:,.0f} | {steady:,.0f} | {overhead} | {memory} |",
                  flush=True)
    if args.skip_full:
        return
    print("\nWhole atlases over the bundled corpus (4,000 WordNet sentences, 16 probes, importance on the first 64 "
          "texts), Ray with 2 actors\n")
    print("| model | wall s | texts | tokens | top previous_token heads | top induction heads | top importance |")
    print("|---|---|---|---|---|---|---|")
    out = Path(__file__).resolve().parent / "atlases"
    out.mkdir(exist_ok=True)
    for model in MODELS:
        path = out / f"{model.removeprefix('pack:')}-wordnet-4000.duckdb"
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        tally = build_atlas(AtlasJob(model, "wordnet-examples.txt", tuple(read_corpus())), path, "ray", actors=2)
        wall = time.perf_counter() - start
        print(f"| {model} | {wall:.0f} | {tally.texts:,} | {tally.tokens:,} | {top_heads(path, 'previous_token')} | "
              f"{top_heads(path, 'induction')} | {top_heads(path, 'importance')} |", flush=True)


if __name__ == "__main__":
    main()
