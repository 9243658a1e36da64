"""`make bench`: every benchmark in turn, printed and written to bench/results.md with the machine named.

    .venv/bin/python bench/run_all.py
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch
import transformers

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("capture_cost.py", "text_page.py", "vision_page.py", "concurrent_sessions.py", "proxy.py",
           "head_retrieval.py", "atlas_throughput.py", "long_inputs.py")
RESULTS = ROOT / "bench" / "results.md"


def machine() -> str:
    """Date, CPU, GPU and versions: what the figures below were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {cpu} × {os.cpu_count()} cores · {gpu} · "
            f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}")


def main() -> None:
    sections = [f"# Attention Lens benchmarks\n\n{machine()}\n\nCommand: `make bench` (bench/run_all.py)\n"]
    print(sections[0])
    for script in SCRIPTS:
        print(f"## bench/{script}", flush=True)
        run = subprocess.run([sys.executable, str(ROOT / "bench" / script)], capture_output=True, text=True)
        lines = [line for line in run.stdout.splitlines() if line.strip()]
        if run.returncode:
            lines.append(f"FAILED (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}")
        print("\n".join(lines) + "\n", flush=True)
        sections.append(f"## bench/{script}\n\n" + "\n".join(lines) + "\n")
    RESULTS.write_text("\n".join(sections))
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
