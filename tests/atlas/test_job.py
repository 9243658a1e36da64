"""The atlas job: Ray (a real local Ray, actors holding the model) and the plain loop agree; a stopped job resumes
to the same atlas; the file reopens after the writer was killed; another job's file is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import duckdb
import numpy as np
import pytest
import torch

from models.atlas.corpus import read_corpus
from models.atlas.job import AtlasJob, build_atlas
from models.atlas.reading import MEASURES
from models.atlas.store import AtlasError, AtlasStore
from models.engine.precision import float32_tolerance
from tests.conftest import ROOT
from tests.tolerance import assert_close32

TEXTS = tuple(read_corpus()[:40])


def _job(model: str, texts=TEXTS) -> AtlasJob:
    return AtlasJob(model, "wordnet", texts, shard_size=8, probes=3)


def test_ray_and_the_plain_loop_give_the_same_atlas(tiny_bert, tmp_path):
    plain = build_atlas(_job(tiny_bert), tmp_path / "plain.duckdb", engine="plain")
    on_ray = build_atlas(_job(tiny_bert), tmp_path / "ray.duckdb", engine="ray", actors=2)
    assert np.array_equal(plain.count, on_ray.count) and (plain.texts, plain.tokens) == (on_ray.texts, on_ray.tokens)
    # the actors run torch on one thread each, this process on several: float32 sums may land differently
    for m, name in enumerate(MEASURES):  # each at its own scale: shares up to 1, distances in tokens, and
        # importance, a difference of two losses of about log(vocabulary) = 10.3
        scale = np.log(30522) if name == "importance" else None
        assert_close32(torch.from_numpy(on_ray.mean[m]), torch.from_numpy(plain.mean[m]), scale=scale, terms=256)
    assert np.array_equal(on_ray.syntax.total, plain.syntax.total)
    assert plain.examples.keys() == on_ray.examples.keys()
    for cell, found in plain.examples.items():  # the same best input, unless the best two tie within rounding
        first, other = found[0], on_ray.examples[cell][0]
        scale = np.log(30522) if MEASURES[cell[0]] == "importance" else max(abs(first.value), 1.0)
        near = float32_tolerance(scale, 256)  # importance here: ~2e-5 (a random tiny BERT), rounding ~3e-4
        assert abs(first.value - other.value) <= near, cell
        assert other.text == first.text or (len(found) > 1 and first.value - found[1].value <= near), cell
    with duckdb.connect(str(tmp_path / "ray.duckdb"), read_only=True) as db:
        engine, texts = db.execute("SELECT engine, texts FROM runs").fetchone()
        assert (engine, texts) == ("ray", 40)
        columns = [c for (c,) in db.execute("SELECT column_name FROM (DESCRIBE heads)").fetchall()]
        assert set(MEASURES) <= set(columns) and db.execute("SELECT count(*) FROM heads").fetchone()[0] == 2 * 4


def test_a_stopped_job_resumes_to_the_same_atlas(tiny_bert, tmp_path):
    whole = build_atlas(_job(tiny_bert), tmp_path / "whole.duckdb", engine="plain")
    calls = []

    def stop_after_two_shards(done, total, tokens):
        calls.append(done)
        if len(calls) == 3:  # the start, the probes, the first text shard
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_atlas(_job(tiny_bert), tmp_path / "stopped.duckdb", engine="plain", progress=stop_after_two_shards)
    with AtlasStore(tmp_path / "stopped.duckdb") as store:
        assert store.done_shards() == {-1, 0}
    seen = []
    resumed = build_atlas(_job(tiny_bert), tmp_path / "stopped.duckdb", engine="plain",
                          progress=lambda done, total, tokens: seen.append(done))
    assert seen[0] == 8 and seen[-1] == 40  # the saved shard was not read again
    assert np.array_equal(resumed.count, whole.count)
    np.testing.assert_array_equal(resumed.mean, whole.mean)  # same process, same inputs: the same numbers
    for part in ("correct", "total", "baseline"):  # the syntax counts went through the file and back
        assert np.array_equal(getattr(resumed.syntax, part), getattr(whole.syntax, part)), part
    assert resumed.syntax.total.sum() > 0
    with duckdb.connect(str(tmp_path / "stopped.duckdb"), read_only=True) as db:
        (rows,) = db.execute("SELECT count(*) FROM syntax WHERE relation = 'det'").fetchone()
        assert rows == 2 * 2 * 4  # two directions × 2 layers × 4 heads


def test_the_file_reopens_and_resumes_after_the_writer_was_killed(tiny_bert, tmp_path):
    out, corpus = tmp_path / "killed.duckdb", tmp_path / "corpus.txt"
    corpus.write_text("\n".join(read_corpus()[:400]))
    command = [sys.executable, "-m", "models.atlas", "--model", tiny_bert, "--corpus", str(corpus), "--out", str(out),
               "--engine", "plain", "--shard-size", "8", "--probes", "2"]
    writer = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    progress = ""
    while "16/400" not in progress:  # two text shards saved (tqdm redraws the bar on stderr)
        progress += writer.stderr.read(1)
        assert writer.poll() is None, progress
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with AtlasStore(out) as store:
        saved = store.done_shards()
    assert {-1, 0, 1} <= saved and len(saved) < 51
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert "400 texts" in finished.stdout
    with duckdb.connect(str(out), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM shards").fetchone()[0] == 51  # probes + 50 text shards


def test_a_file_begun_for_another_job_is_not_mixed_in(tiny_bert, tmp_path):
    build_atlas(_job(tiny_bert, TEXTS[:8]), tmp_path / "a.duckdb", engine="plain")
    with pytest.raises(AtlasError, match="holds an atlas with other settings .*corpus_sha256.*texts"):
        build_atlas(_job(tiny_bert, TEXTS[:16]), tmp_path / "a.duckdb", engine="plain")


def test_the_cli_says_what_is_wrong_in_one_line(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = subprocess.run([sys.executable, "-m", "models.atlas", "--corpus", str(tmp_path / "empty.txt"),
                             "--out", str(tmp_path / "a.duckdb")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == "error: empty.txt holds no text."
