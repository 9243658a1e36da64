"""An atlas job in its own process: progress read from its file, stopped like Ctrl-C (the saved shards stay),
and a failure reported in one sentence."""

from __future__ import annotations

import signal
import time

from models.atlas.corpus import read_corpus
from models.atlas.process import AtlasProcess
from models.atlas.store import AtlasStore


def _wait(job: AtlasProcess, until, seconds: float = 240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = job.status()
        if until(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"the job did not get there: {job.status()}")


def test_progress_then_a_stop_that_keeps_the_saved_shards(tiny_bert, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join((read_corpus() * 20)[:20_000]))  # long enough to be still running when stopped
    job = AtlasProcess(tiny_bert, corpus, tmp_path / "a.duckdb", engine="plain")
    status = _wait(job, lambda s: s.done >= 128)
    assert status.total == 20_000 and status.tokens > 0 and status.running
    job.stop()
    assert job.process.returncode == 130, job.log.read_text()[-3000:]  # the CLI's own Ctrl-C path
    stopped = job.status()
    assert stopped.error and "stopped" in stopped.error and not stopped.running
    with AtlasStore(tmp_path / "a.duckdb") as store:
        assert len(store.done_shards() - {-1}) >= 2


def test_a_job_started_with_ctrl_c_ignored_still_stops_on_it(tiny_bert, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join((read_corpus() * 20)[:20_000]))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through exec
    try:
        job = AtlasProcess(tiny_bert, corpus, tmp_path / "a.duckdb", engine="plain")
    finally:
        signal.signal(signal.SIGINT, previous)
    _wait(job, lambda s: s.done >= 64)
    job.stop()
    assert job.process.returncode == 130, job.log.read_text()[-3000:]


def test_a_failing_job_says_why(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    job = AtlasProcess("pack:minilm", tmp_path / "empty.txt", tmp_path / "a.duckdb", engine="plain")
    status = _wait(job, lambda s: not s.running)
    assert status.error == "empty.txt holds no text."
