"""Build an atlas: the corpus cut into shards, read by the model (on Ray actors that each load it once, or in
this process), each shard reduced as it completes and saved, so a stopped job resumes where it stopped."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from models.atlas.reading import PROBE_SHARD, Item, Reading, read_item
from models.atlas.store import AtlasStore
from models.atlas.syntax import SyntaxCounts
from models.atlas.tally import Tally, merge, tally_shard
from models.engine.loading import load_model, pack_ready, prepare_pack
from models.engine.registry import PACK_PREFIX

SHARD_SIZE = 64
PROBES = 16
IMPORTANCE_TEXTS = 64  # texts whose heads are each silenced in turn (L extra forward passes of H items apiece)
MAX_TOKENS = 128
BATCH = 8
Progress = Callable[[int, int, int], None]  # (texts done, texts in all, tokens done)


@dataclass(frozen=True)
class AtlasJob:
    """What an atlas is of: the same job resumes the same file, another is refused."""

    model: str
    corpus: str  # a name for people: the file's name
    texts: tuple[str, ...]
    max_tokens: int = MAX_TOKENS
    probes: int = PROBES
    shard_size: int = SHARD_SIZE
    importance_texts: int = IMPORTANCE_TEXTS

    def settings(self) -> dict[str, str]:
        digest = hashlib.sha256("\n".join(self.texts).encode()).hexdigest()[:16]
        return {"model": self.model, "corpus": self.corpus, "corpus_sha256": digest, "texts": str(len(self.texts)),
                "max_tokens": str(self.max_tokens), "probes": str(self.probes), "shard_size": str(self.shard_size),
                "importance_texts": str(self.importance_texts)}

    def shards(self) -> dict[int, list[Item]]:
        """Shard id -> its items: the probes first (PROBE_SHARD), then the corpus in order."""
        shards = {PROBE_SHARD: [Item(PROBE_SHARD, seed) for seed in range(self.probes)]} if self.probes else {}
        for start in range(0, len(self.texts), self.shard_size):
            shard = start // self.shard_size
            chunk = self.texts[start:start + self.shard_size]
            shards[shard] = [Item(shard, start + i, t, start + i < self.importance_texts) for i, t in enumerate(chunk)]
        return shards


def read_plain(model: str, items: Sequence[Item], max_tokens: int) -> Iterator[Reading]:
    """The same readings as the Ray job, in this process, in order: the baseline Ray's overhead is measured
    against."""
    loaded = load_model(model)
    for item in items:
        yield read_item(loaded, item, max_tokens)


class AtlasReader:
    """A Ray actor: loads the model once, then reduces each batch of items to readings (no maps leave it)."""

    def __init__(self, model: str, max_tokens: int, device: str = "auto"):
        self.loaded = load_model(model, device)
        self.max_tokens = max_tokens

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = zip(batch["shard"], batch["index"], batch["text"], batch["importance"], strict=True)
        readings = [read_item(self.loaded, Item(int(s), int(i), str(t), bool(m)), self.max_tokens)
                    for s, i, t, m in items]
        return {
            "shard": np.array([r.shard for r in readings]), "index": np.array([r.index for r in readings]),
            "text": np.array([r.text for r in readings], dtype=object),
            "tokens": np.array([json.dumps(r.tokens) for r in readings], dtype=object),
            "values": np.stack([r.values for r in readings]), "cells": np.stack([r.cells for r in readings]),
            "syntax_correct": np.stack([r.syntax.correct for r in readings]),
            "syntax_total": np.stack([r.syntax.total for r in readings]),
            "syntax_baseline": np.stack([r.syntax.baseline for r in readings]),
        }


def read_on_ray(model: str, items: Sequence[Item], max_tokens: int, address: str | None = None,
                actors: int | None = None) -> Iterator[Reading]:
    """The readings from a Ray Data job, in input order: a local Ray started here unless `address` (or
    RAY_ADDRESS) names a cluster; one actor per CPU (per GPU when the cluster has GPUs)."""
    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-dataset INFO lines would drown the progress bar
    if model.startswith(PACK_PREFIX) and not pack_ready(model):  # converted once here, not by every actor at once
        prepare_pack(model)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=True)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # shards complete in order: each is saved as it ends
        context.enable_progress_bars = False
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        actors = actors or gpus or max(1, int(resources.get("CPU", 1)))
        rows = [{"shard": i.shard, "index": i.index, "text": i.text, "importance": i.importance} for i in items]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // BATCH)).map_batches(
            AtlasReader, fn_constructor_kwargs={"model": model, "max_tokens": max_tokens,
                                                "device": "cuda" if gpus else "cpu"},
            batch_size=BATCH, compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=0 if gpus else 1, num_gpus=1 if gpus else 0,
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for k in range(len(batch["shard"])):
                syntax = SyntaxCounts(batch["syntax_correct"][k], batch["syntax_total"][k], batch["syntax_baseline"][k])
                yield Reading(int(batch["shard"][k]), int(batch["index"][k]), str(batch["text"][k]),
                              tuple(json.loads(batch["tokens"][k])), batch["values"][k], batch["cells"][k], syntax)
    finally:
        if started:
            ray.shutdown()


def _by_shard(readings: Iterable[Reading], sizes: dict[int, int]) -> Iterator[tuple[int, list[Reading]]]:
    """Group an ordered stream of readings into complete shards."""
    current: list[Reading] = []
    for reading in readings:
        current.append(reading)
        if len(current) == sizes[reading.shard]:
            yield reading.shard, current
            current = []


def build_atlas(job: AtlasJob, out: str | Path, engine: str = "ray", address: str | None = None,
                actors: int | None = None, progress: Progress | None = None) -> Tally:
    """Run (or resume) `job` into the DuckDB file `out` and return the merged tally. `engine`: "ray" or "plain"."""
    with AtlasStore(out) as store:
        store.adopt(job.settings())
        shards = job.shards()
        done = store.done_shards()
        todo = [item for shard, items in shards.items() if shard not in done for item in items]
        total = len(job.texts)
        texts = sum(len(items) for shard, items in shards.items() if shard in done and shard != PROBE_SHARD)
        tokens = 0
        if progress:
            progress(texts, total, tokens)
        started, clock = datetime.now(UTC), time.perf_counter()
        if todo:
            reader = (read_on_ray(job.model, todo, job.max_tokens, address, actors) if engine == "ray"
                      else read_plain(job.model, todo, job.max_tokens))
            last = time.perf_counter()
            for shard, readings in _by_shard(reader, {s: len(items) for s, items in shards.items()}):
                tally = tally_shard(readings)
                store.save_shard(shard, tally, time.perf_counter() - last)
                last = time.perf_counter()
                texts, tokens = texts + tally.texts, tokens + tally.tokens
                if progress:
                    progress(texts, total, tokens)
        merged = merge(store.shard_tallies())
        store.finish(merged, {
            "model": job.model, "corpus": job.corpus, "texts": merged.texts, "tokens": merged.tokens,
            "probes": job.probes, "engine": engine, "started": started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - clock, 3),
            "versions": {p: importlib.metadata.version(p) for p in ("torch", "transformers", "ray", "duckdb")},
        })
        return merged
