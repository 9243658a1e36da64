"""Benchmark: long inputs (issue 19). SmolLM2 at 512 / 2,048 / 4,096 tokens and MiniLM at 512: the SDPA
forward, the capture (SDPA inside a recording that keeps q, k, v and the masks, never the maps), the capture plus
the Maps view's selected map, and plus all it computes (the selected map, then every head's numbers and thumbnails
in one streamed pass, the mosaic),
the memory the capture holds, one head's map on demand, and the peak resident memory of a fresh process.

    .venv/bin/python bench/long_inputs.py [--repeats 3] [--sizes 512 2048 4096]

Goals: capture <= 1.1 x SDPA; capture + first Maps view <= 1.3 x SDPA; a 2,048-token SmolLM2 capture holds
<= 0.5 GB; one head's map <= 100 ms at 2,048 tokens.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from components.heatmaps import attention_map, attention_mosaic  # noqa: E402
from models.engine.capture import capture_text  # noqa: E402
from models.engine.loading import load_model, model_class  # noqa: E402
from models.text.head_stats import MOSAIC_THUMB, sink_groups, summarise_heads  # noqa: E402

TEXT = (ROOT / "README.md").read_text()  # a long real text: the README, repeated as needed


def _text(tokens: int) -> str:
    """About 1.5 x `tokens` tokens of it (cut to `tokens` by the capture): tokenising far more would be timed too."""
    return (TEXT * (1 + tokens // 4000))[: 6 * tokens]


def _median(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def selected_map(capture) -> None:
    """The figure the Maps view draws first: one head's map (as app/views/text/maps.py)."""
    layer = capture.layers[0]
    attention_map(layer.head_weights(0).numpy(), capture.tokens,
                  mask=None if layer.mask is None else layer.mask.numpy(), clip_percentile=99)


def maps_view(capture) -> None:
    """Everything the Maps view computes (as app/state/text.py): the selected map, then every head's numbers and
    thumbnails in one pass over the layers, and the mosaic."""
    selected_map(capture)
    groups = sink_groups(capture.tokens, capture.special)
    summaries = [summarise_heads(layer, groups, MOSAIC_THUMB) for layer in capture.layers]
    attention_mosaic((summary.thumbnails.numpy() for summary in summaries), capture.num_heads)


def row(name: str, tokens: int, repeats: int) -> str:
    loaded = load_model(name)
    sdpa = model_class(loaded.model.config).from_pretrained(loaded.source, attn_implementation="sdpa").eval()
    encoded = loaded.processor(_text(tokens), return_tensors="pt", truncation=True, max_length=tokens)
    tokens = encoded["input_ids"].shape[1]
    with torch.inference_mode():
        forward = _median(lambda: sdpa(**encoded), repeats)
    capture_time = _median(lambda: capture_text(loaded, _text(tokens), max_tokens=tokens), repeats)
    capture = capture_text(loaded, _text(tokens), max_tokens=tokens)
    first_map = _median(lambda: selected_map(capture_text(loaded, _text(tokens), max_tokens=tokens)), repeats)
    with_maps = _median(lambda: maps_view(capture_text(loaded, _text(tokens), max_tokens=tokens)), repeats)
    middle = capture.layers[capture.num_layers // 2]
    one_head = _median(lambda: middle.head_weights(1), max(repeats, 5))
    return (f"| {name} | {tokens} | {forward:.2f} s | {capture_time:.2f} s ({capture_time / forward:.2f}×) | "
            f"{first_map:.2f} s ({first_map / forward:.2f}×) | {with_maps:.2f} s ({with_maps / forward:.2f}×) | "
            f"{capture.nbytes / 2**20:,.0f} MB | "
            f"{one_head * 1e3:.0f} ms | {peak_rss(name, tokens)} |")


def peak_rss(name: str, tokens: int) -> str:
    """Peak RSS of a fresh process that loads the model, captures `tokens` tokens and computes the Maps view."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "from long_inputs import maps_view, _text\n"
        "from models.engine.loading import load_model\nfrom models.engine.capture import capture_text\n"
        "def hwm(): return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
        f"m = load_model({name!r}); before = hwm()\n"
        f"c = capture_text(m, _text({tokens}), max_tokens={tokens}); held = hwm()\n"
        "maps_view(c)\n"
        "print(before, held, hwm())\n"
    )
    before, held, after = (int(x) / 1024 for x in subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    return f"{before:,.0f} → {held:,.0f} → {after:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 4096])
    args = parser.parse_args()
    print(f"long inputs, median of {args.repeats}, {torch.get_num_threads()} CPU threads")
    print("| model | tokens | SDPA forward | capture | capture + selected map | capture + whole Maps view "
          "| held by the capture | one head's map | peak RSS: loaded → captured → Maps view |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("pack:minilm", 512, args.repeats), flush=True)
    for tokens in args.sizes:
        print(row("pack:smollm2-135m", tokens, args.repeats), flush=True)


if __name__ == "__main__":
    main()
