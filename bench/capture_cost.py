"""Benchmark: what capturing attention costs, per pack and input size, against plain forwards.

For each pack: median seconds of a forward with SDPA, with eager attention, with eager plus
output_attentions=True, and the app's capture (Attention Lens attention inside a recording: SDPA,
keeping q, k, v and the masks; the maps are computed on demand by the views that draw them). For
text, also the capture plus what the first view, Maps, computes before it can draw: the layers x heads
mosaic, every head's statistics and the selected map. Goal (issue 7): capture <= 1.1 x eager with
output_attentions. Then the peak resident memory of a 512-token MiniLM capture, in a fresh process.

    .venv/bin/python bench/capture_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.long_inputs import maps_view  # noqa: E402
from models.engine.capture import capture_text  # noqa: E402
from models.engine.loading import load_model, model_class  # noqa: E402
from models.engine.recording import recording  # noqa: E402

TEXT_SIZES = (32, 128, 512)
IMAGE_SIZES = (224, 448)


def _median_seconds(runs: dict, repeats: int) -> dict[str, float]:
    """Median seconds per run; the runs take turns, so drift on a shared machine hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for turn in range(repeats + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if turn:  # the first turn warms up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _variants(loaded):
    """The same weights with SDPA and with eager attention."""
    cls = model_class(loaded.model.config)
    return {impl: cls.from_pretrained(loaded.source, attn_implementation=impl).eval() for impl in ("sdpa", "eager")}


def _inputs(loaded, size: int) -> dict[str, torch.Tensor]:
    if loaded.modality == "vision":
        return {"pixel_values": torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))}
    ids = loaded.processor("attention " * size, return_tensors="pt", truncation=True, max_length=size)["input_ids"]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _record(model, inputs):
    with recording(model):
        model(**inputs)


def _capture_and_maps(loaded, size: int) -> None:
    """A text capture of `size` tokens, then what the Maps view computes from it (as bench/long_inputs.py)."""
    maps_view(capture_text(loaded, "attention " * size, max_tokens=size))


def cost_table(repeats: int) -> list[str]:
    rows = ["| pack | input | SDPA | eager | eager + output_attentions | capture | capture / eager+attn "
            "| capture + first Maps view | (capture + Maps) / eager+attn |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in ("pack:minilm", "pack:smollm2-135m", "pack:dinov2-small"):
        loaded = load_model(name)
        variants = _variants(loaded)
        sizes = IMAGE_SIZES if loaded.modality == "vision" else TEXT_SIZES
        for size in sizes:
            inputs = _inputs(loaded, size)
            runs = {
                "sdpa": partial(variants["sdpa"], **inputs),
                "eager": partial(variants["eager"], **inputs),
                "with_attn": partial(variants["eager"], **inputs, output_attentions=True),
                "capture": partial(_record, loaded.model, inputs),
            }
            if loaded.modality == "text":
                runs["capture_maps"] = partial(_capture_and_maps, loaded, size)
            with torch.inference_mode():
                medians = _median_seconds(runs, repeats)
            sdpa, eager, with_attn, capture = (medians[k] for k in ("sdpa", "eager", "with_attn", "capture"))
            maps = medians.get("capture_maps")
            first_view = "n/a (text only) | n/a" if maps is None else f"{maps * 1e3:.0f} ms | {maps / with_attn:.2f}"
            unit = "px" if loaded.modality == "vision" else "tokens"
            rows.append(f"| {name} | {size} {unit} | {sdpa * 1e3:.0f} ms | {eager * 1e3:.0f} ms | "
                        f"{with_attn * 1e3:.0f} ms | {capture * 1e3:.0f} ms | {capture / with_attn:.2f} | "
                        f"{first_view} |")
    return rows


def peak_memory() -> str:
    """Peak RSS of a fresh process that loads MiniLM and captures 512 tokens (VmHWM, Linux)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from models.engine.loading import load_model\nfrom models.engine.capture import capture_text\n"
        "def hwm(): return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
        "m = load_model('pack:minilm'); before = hwm()\n"
        "c = capture_text(m, 'attention ' * 600)\n"
        "print(before, hwm(), c.seq_len)\n"
    )
    before, after, tokens = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout.split()
    return (f"peak RSS, MiniLM loaded: {int(before) / 1024:.0f} MB; after a {tokens}-token capture: "
            f"{int(after) / 1024:.0f} MB (+{(int(after) - int(before)) / 1024:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    print(f"capture cost, median of {args.repeats}, {torch.get_num_threads()} CPU threads")
    print("\n".join(cost_table(args.repeats)))
    print(peak_memory())


if __name__ == "__main__":
    main()
