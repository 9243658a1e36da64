"""Corpora for an atlas: the bundled WordNet example sentences, or a user's .txt / .jsonl / .csv / .parquet file;
anything unreadable is refused in one sentence before any work starts."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "atlas"
BUNDLED = ASSETS / "wordnet-examples.txt"
MAX_TEXT_CHARS = 20_000  # one text; a longer line is refused, not silently cut
MAX_FILE_MB = 512
FORMATS = (".txt", ".jsonl", ".csv", ".parquet")


class CorpusError(ValueError):
    """A corpus that cannot be read, said in one sentence."""


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file, refusing binary data and other encodings by line."""
    data = path.read_bytes()
    if b"\0" in data[:65536]:
        raise CorpusError(f"{path.name} looks like a binary file, not text: give a UTF-8 .txt, .jsonl or .csv.")
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CorpusError(f"Line {number} of {path.name} is not UTF-8 (mixed encodings?): save the file "
                              "as UTF-8.") from None


def _rows(path: Path) -> Iterator[tuple[int, str]]:
    """(row number, text) from any supported format."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        yield from _lines(path)
    elif suffix == ".jsonl":
        for number, line in _lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise CorpusError(f"Line {number} of {path.name} is not JSON.") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise CorpusError(f"Line {number} of {path.name} has no \"text\" string.")
            yield number, row["text"]
    elif suffix == ".csv":
        text = "\n".join(line for _, line in _lines(path))
        reader = csv.DictReader(io.StringIO(text))
        if "text" not in (reader.fieldnames or []):
            columns = ", ".join(reader.fieldnames or [])
            raise CorpusError(f"{path.name} has no \"text\" column (its columns: {columns}).")
        for number, row in enumerate(reader, start=2):
            yield number, row["text"] or ""
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as error:  # pyarrow raises several kinds for a damaged file
            raise CorpusError(f"{path.name} is not a readable Parquet file ({type(error).__name__}).") from None
        if "text" not in table.column_names:
            raise CorpusError(f"{path.name} has no \"text\" column (its columns: {', '.join(table.column_names)}).")
        for number, value in enumerate(table.column("text").to_pylist(), start=1):
            yield number, value if isinstance(value, str) else ""
    else:
        raise CorpusError(f"{path.name}: give a {', '.join(FORMATS)} file (one text a line, or a \"text\" column).")


HUB_PREFIX = "hub:"


def hub_corpus_files(dataset: str) -> list[Path]:
    """A hub dataset's .parquet / .jsonl / .csv / .txt files, downloaded (or taken from the local cache)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(dataset, repo_type="dataset", allow_patterns=[f"*{f}" for f in FORMATS]))
    except LocalEntryNotFoundError:
        raise CorpusError(f"The hub dataset {dataset!r} is not in the local cache and the hub cannot be reached "
                          "(no network?): give a corpus file instead.") from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise CorpusError(f"The hub dataset {dataset!r} could not be read ({type(error).__name__}).") from None
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in FORMATS)
    if not files:
        raise CorpusError(f"The hub dataset {dataset!r} has no {', '.join(FORMATS)} files.")
    return files


def read_corpus(path: str | Path = BUNDLED) -> list[str]:
    """The non-empty texts of a corpus file, or of a hub dataset named "hub:owner/name", in order."""
    if str(path).startswith(HUB_PREFIX):
        return [text for file in hub_corpus_files(str(path).removeprefix(HUB_PREFIX)) for text in read_corpus(file)]
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"There is no corpus file at {path}.")
    if path.stat().st_size > MAX_FILE_MB * 2**20:
        raise CorpusError(f"{path.name} is over {MAX_FILE_MB} MB: split it into several atlases.")
    texts = []
    for number, text in _rows(path):
        if len(text) > MAX_TEXT_CHARS:
            raise CorpusError(f"Text {number} of {path.name} is {len(text):,} characters long, over the "
                              f"{MAX_TEXT_CHARS:,} an atlas reads per text: split it.")
        if text.strip():
            texts.append(text.strip())
    if not texts:
        raise CorpusError(f"{path.name} holds no text.")
    return texts


def wordnet_examples(folder: Path) -> list[str]:
    """The quoted example sentences of WordNet 3.0's data.* files (Debian's wordnet-base), in file order, once
    each."""
    seen, found = set(), []
    for part in ("noun", "verb", "adj", "adv"):
        for line in (folder / f"data.{part}").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:  # the licence header
                continue
            for example in re.findall(r'"([^"]+)"', line.split("|", 1)[1]):
                example = example.strip()
                if len(example.split()) >= 5 and example not in seen:
                    seen.add(example)
                    found.append(example)
    return found


def main() -> None:
    """Write the bundled extract: every n-th WordNet example sentence, `--count` of them."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    examples = wordnet_examples(args.wordnet)
    step = max(1, len(examples) // args.count)
    chosen = examples[::step][: args.count]
    BUNDLED.parent.mkdir(parents=True, exist_ok=True)
    BUNDLED.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    print(f"{len(chosen)} of {len(examples)} WordNet example sentences -> {BUNDLED}")


if __name__ == "__main__":
    main()
