"""An atlas job in its own process (the same CLI), so a page can start one without blocking anyone, and read
its progress from the file the job writes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STOP_GRACE_SECONDS = 120  # a busy machine may take a while to unwind the current shard; then it is killed


@dataclass(frozen=True)
class JobStatus:
    """Where a job is: texts done of total, tokens, seconds; finished, or the sentence it failed with."""

    done: int = 0
    total: int = 0
    tokens: int = 0
    seconds: float = 0.0
    finished: bool = False
    error: str | None = None

    @property
    def running(self) -> bool:
        return not self.finished and self.error is None


class AtlasProcess:
    """`python -m models.atlas ...` running in the background, writing `<out>.progress.json`."""

    def __init__(self, model: str, corpus: Path, out: Path, limit: int | None = None, engine: str = "ray"):
        self.out, self.progress_file = Path(out), Path(out).with_suffix(".progress.json")
        self.progress_file.unlink(missing_ok=True)
        self.log = Path(out).with_suffix(".log")
        command = [sys.executable, "-m", "models.atlas", "--model", model, "--corpus", str(corpus), "--out", str(out),
                   "--engine", engine, "--progress-file", str(self.progress_file)]
        if limit:
            command += ["--limit", str(limit)]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.started = time.time()

    def status(self) -> JobStatus:
        """The latest progress; a process that ended without saying why is reported with its log's last line."""
        try:
            status = JobStatus(**json.loads(self.progress_file.read_text()))
        except (OSError, ValueError):
            status = JobStatus()
        code = self.process.poll()
        if code is not None and status.running:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()] or ["no output"]
            return JobStatus(status.done, status.total, status.tokens, status.seconds,
                             error=f"the atlas job stopped (exit {code}): {lines[-1][:300]}")
        return status

    def stop(self) -> None:
        """Stop the job; the shards it finished stay in the file, and the same job resumes them."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the CLI's KeyboardInterrupt: the current shard is dropped
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGUSR1)  # its threads' stacks go to the log: why it did not stop
                time.sleep(1)
                self.process.kill()
                self.process.wait()
