"""Benchmark: long inputs (issue 19). SmolLM2 at 512 / 2,048 / 4,096 tokens and MiniLM at 512: the SDPA
forward; the capture (SDPA inside a recording that keeps q, k, v and the masks, never the maps); the capture plus
all the Maps view computes, as the Text page does it (the overview, every head's numbers and thumbnail, computed
inside the forward pass, then the selected map, the table and the mosaic); the same view after a plain capture
(the overview as a second pass over the maps); the memory the capture holds, one head's map on demand, and the
peak resident memory of a fresh process.

    .venv/bin/python bench/long_inputs.py [--repeats 3] [--sizes 512 2048 4096] [--view-sizes 4096 8192]

A second table gives the Text page's other views at length (SmolLM2, its own limit of 8,192 tokens included):
the time and the peak resident memory each takes above the capture, in one fresh process (the peak is reset
before each view through /proc/self/clear_refs).

Goals: capture <= 1.1 x SDPA; capture + first Maps view <= 1.3 x SDPA; a 2,048-token SmolLM2 capture holds
<= 0.5 GB; one head's map <= 100 ms at 2,048 tokens.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import PretrainedConfig  # noqa: E402

from components.heatmaps import attention_map, attention_mosaic  # noqa: E402
from models.engine.budget import capture_bytes  # noqa: E402
from models.engine.capture import capture_text, encode_text  # noqa: E402
from models.engine.loading import load_model, model_class  # noqa: E402
from models.engine.overview import layer_overview  # noqa: E402
from models.engine.pooling import thumbnails  # noqa: E402
from models.text.ablation import ablate_heads  # noqa: E402
from models.text.comparison import head_shifts, token_alignment  # noqa: E402
from models.text.head_stats import MOSAIC_THUMB, head_summary, sink_groups  # noqa: E402
from models.text.multihead import compare_heads  # noqa: E402
from models.text.walkthrough import attention_walkthrough  # noqa: E402

TEXT = (ROOT / "README.md").read_text()  # a long real text: the README, repeated as needed


def _text(tokens: int) -> str:
    """About 1.5 x `tokens` tokens of it (cut to `tokens` by the capture): tokenising far more would be timed too."""
    return (TEXT * (1 + tokens // 4000))[: 6 * tokens]


def _medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each run, the runs taking turns within every repeat: this machine's speed drifts by
    ±10 % over minutes, and ratios between runs timed side by side drift far less."""
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def selected_map(capture) -> None:
    """The figure the Maps view draws first: one head's map (as app/views/text/maps.py)."""
    layer = capture.layers[0]
    attention_map(layer.head_weights(0).numpy(), capture.tokens,
                  mask=None if layer.mask is None else layer.mask.numpy(), clip_percentile=99)


def maps_view(capture) -> None:
    """Everything the Maps view computes (as app/state/text.py): the selected map, every head's numbers (from the
    capture's overview, or one pass over the maps when it has none) and the mosaic."""
    selected_map(capture)
    groups = sink_groups(capture.tokens, capture.special)
    overviews = capture.overview or [layer_overview(layer, MOSAIC_THUMB) for layer in capture.layers]
    summaries = [head_summary(overview, groups) for overview in overviews]
    attention_mosaic((summary.thumbnails.numpy() for summary in summaries), capture.num_heads)


def row(name: str, tokens: int, repeats: int) -> str:
    loaded = load_model(name)
    sdpa = model_class(loaded.model.config).from_pretrained(loaded.source, attn_implementation="sdpa").eval()
    encoded = loaded.processor(_text(tokens), return_tensors="pt", truncation=True, max_length=tokens)
    tokens = encoded["input_ids"].shape[1]

    def forward() -> None:
        with torch.inference_mode():
            sdpa(**encoded)

    capture = capture_text(loaded, _text(tokens), max_tokens=tokens, overview=True)
    middle = capture.layers[capture.num_layers // 2]
    times = _medians({
        "forward": forward,
        "capture": lambda: capture_text(loaded, _text(tokens), max_tokens=tokens),
        "page": lambda: maps_view(capture_text(loaded, _text(tokens), max_tokens=tokens, overview=True)),
        "second pass": lambda: maps_view(capture_text(loaded, _text(tokens), max_tokens=tokens)),
    }, repeats)
    forward, capture_time, page, second_pass = (times[k] for k in ("forward", "capture", "page", "second pass"))
    one_head = _medians({"head": lambda: middle.head_weights(1)}, max(repeats, 5))["head"]
    return (f"| {name} | {tokens} | {forward:.2f} s | {capture_time:.2f} s ({capture_time / forward:.2f}×) | "
            f"{page:.2f} s ({page / forward:.2f}×) | {second_pass:.2f} s ({second_pass / forward:.2f}×) | "
            f"{capture.nbytes / 2**20:,.0f} MB | "
            f"{one_head * 1e3:.0f} ms | {peak_rss(name, tokens, loaded.model.config)} |")


def peak_rss(name: str, tokens: int, config: PretrainedConfig) -> str:
    """Peak RSS of a fresh process that loads the model, captures `tokens` tokens and computes the Maps view; beside
    it, what the budget allows for (`config`: the model's, already loaded here)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "from long_inputs import maps_view, _text\n"
        "from models.engine.loading import load_model\nfrom models.engine.capture import capture_text\n"
        "def hwm(): return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
        f"m = load_model({name!r}); before = hwm()\n"
        f"c = capture_text(m, _text({tokens}), max_tokens={tokens}, overview=True); held = hwm()\n"
        "maps_view(c)\n"
        "print(before, held, hwm())\n"
    )
    before, held, after = (int(x) / 1024 for x in subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    estimate = capture_bytes(config, tokens) / 2**20
    return f"{before:,.0f} → {held:,.0f} → {after:,.0f} MB (budget's estimate: {before + estimate:,.0f} MB)"


VIEWS = {  # what each of the Text page's other tabs computes for one layer or head (as app/state/text.py)
    "Single vs multi-head": lambda m, c: (compare_heads(c.layers[c.num_layers // 2]),
                                          thumbnails(c.layers[c.num_layers // 2], 96)),
    "Q·K·V walkthrough": lambda m, c: attention_walkthrough(m.model, c.layers[c.num_layers // 2], 3, c.seq_len - 1),
    "A/B (text B captured, then every head's shift)": lambda m, c: head_shifts(
        c, b := capture_text(m, "In short: " + _text(c.seq_len), max_tokens=c.seq_len, overview=True),
        token_alignment(c.tokens, b.tokens)),
    "Ablation (one head removed, run again)": lambda m, c: ablate_heads(
        m, c, encode_text(m, _text(c.seq_len), None, c.seq_len)[0], [(3, 1)]),
}


def view_costs(name: str, tokens: int) -> list[str]:
    """Rows of the views table: each view's time and peak RSS above what was resident before it."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "from long_inputs import VIEWS, _text\n"
        "from models.engine.loading import load_model\nfrom models.engine.capture import capture_text\n"
        "def status(key): return int([l for l in open('/proc/self/status') if l.startswith(key)][0].split()[1])\n"
        f"m = load_model({name!r}); c = capture_text(m, _text({tokens}), max_tokens={tokens}, overview=True)\n"
        "for view, run in VIEWS.items():\n"
        "    open('/proc/self/clear_refs', 'w').write('5'); before = status('VmRSS'); start = time.perf_counter()\n"
        "    run(m, c); print(view, time.perf_counter() - start, before, status('VmHWM'), sep='\\t', flush=True)\n"
    )
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in lines.splitlines():
        view, seconds, before, peak = line.split("\t")
        rows.append(f"| {name} | {tokens} | {view} | {float(seconds):.1f} s | "
                    f"+{(int(peak) - int(before)) / 1024:,.0f} MB over {int(before) / 1024:,.0f} MB |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 2048, 4096])
    parser.add_argument("--view-sizes", type=int, nargs="*", default=[4096, 8192])
    args = parser.parse_args()
    print(f"long inputs, median of {args.repeats}, {torch.get_num_threads()} CPU threads")
    print("| model | tokens | SDPA forward | capture | capture + whole Maps view (the page: overview in the "
          "forward) | capture + whole Maps view (overview as a second pass) "
          "| held by the capture | one head's map "
          "| peak RSS: loaded → captured → Maps view (what the budget allows for) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("pack:minilm", 512, args.repeats), flush=True)
    for tokens in args.sizes:
        print(row("pack:smollm2-135m", tokens, args.repeats), flush=True)
    if args.view_sizes:
        print("\nthe other views at length, one fresh process per length")
        print("| model | tokens | view | time | peak RSS above what was resident |")
        print("|---|---|---|---|---|")
    for tokens in args.view_sizes:
        print("\n".join(view_costs("pack:smollm2-135m", tokens)), flush=True)


if __name__ == "__main__":
    main()
