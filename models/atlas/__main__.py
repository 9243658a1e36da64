"""`python -m models.atlas --model pack:smollm2-135m --corpus FILE --out PATH.duckdb`: build or resume an atlas,
with a progress bar (texts and tokens per second)."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import signal
import sys
import time
from pathlib import Path

from tqdm import tqdm

from models.atlas.corpus import BUNDLED, HUB_PREFIX, CorpusError, read_corpus
from models.atlas.job import MAX_TOKENS, PROBES, SHARD_SIZE, AtlasJob, build_atlas
from models.atlas.store import AtlasError
from models.engine.loading import ModelLoadError


def write_progress(path: Path, **status) -> None:
    """Replace the progress file at once (a reader never sees half of it)."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(status))
    partial.replace(path)


def listen_for_stop() -> None:
    """Ctrl-C (SIGINT) stops the job even when the parent started it with SIGINT ignored or blocked (both are
    inherited through exec, and Python then leaves SIGINT alone); SIGUSR1 writes every thread's stack to stderr,
    so a job that does not stop says where it is."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGUSR1})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.atlas", description=__doc__)
    parser.add_argument("--model", default="pack:minilm", help="a pack, hub id or folder (from_pretrained)")
    parser.add_argument("--corpus", default=str(BUNDLED),
                        help=".txt (a text a line), .jsonl, .csv or .parquet (a text column), or hub:owner/dataset")
    parser.add_argument("--out", type=Path, required=True, help="the atlas file (DuckDB); an existing one resumes")
    parser.add_argument("--engine", choices=("ray", "plain"), default="ray",
                        help="ray: actors on a local Ray (or --address); plain: this process, one input at a time")
    parser.add_argument("--address", help="an existing Ray cluster (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--actors", type=int, help="model replicas (default: one per CPU, or per GPU)")
    parser.add_argument("--limit", type=int, help="only the first N texts of the corpus")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="each text is cut to this many tokens")
    parser.add_argument("--probes", type=int, default=PROBES, help="random repeated sequences for induction scores")
    parser.add_argument("--shard-size", type=int, default=SHARD_SIZE, help="texts saved together (resume unit)")
    parser.add_argument("--progress-file", type=Path, help="also write the progress there, as JSON (for the page)")
    args = parser.parse_args(argv)
    listen_for_stop()
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        texts = read_corpus(args.corpus)[: args.limit]
        name = args.corpus if args.corpus.startswith(HUB_PREFIX) else Path(args.corpus).name
        job = AtlasJob(args.model, name, tuple(texts), args.max_tokens, args.probes, args.shard_size)
        bar = tqdm(total=len(texts), unit="text", desc=f"Atlas of {args.model}", dynamic_ncols=True)
        clock = time.perf_counter()

        def progress(done: int, total: int, tokens: int) -> None:
            seconds = time.perf_counter() - clock
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{tokens / max(seconds, 1e-9):,.0f} tokens/s")
            if args.progress_file:
                write_progress(args.progress_file, done=done, total=total, tokens=tokens, seconds=seconds)

        tally = build_atlas(job, args.out, args.engine, args.address, args.actors, progress)
        bar.close()
    except (CorpusError, AtlasError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        if args.progress_file:
            write_progress(args.progress_file, error=str(error))
        return 2
    except KeyboardInterrupt:
        print(f"\nstopped: the finished shards are saved in {args.out}; run the same command to resume.",
              file=sys.stderr)
        return 130
    if args.progress_file:
        write_progress(args.progress_file, done=tally.texts, total=tally.texts, tokens=tally.tokens,
                       seconds=time.perf_counter() - clock, finished=True)
    print(f"{tally.texts:,} texts, {tally.tokens:,} tokens -> {args.out} "
          f"({time.perf_counter() - clock:.1f} s; tables runs, heads, examples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
