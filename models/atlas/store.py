"""An atlas in one DuckDB file: shards as they finish (so a stopped job resumes), then `runs`, `heads` (a column
per measure), `examples`; the page and any SQL tool read it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from models.atlas.reading import MEASURES
from models.atlas.syntax import DIRECTIONS, OFFSETS, RELATIONS, SyntaxCounts
from models.atlas.tally import Example, Tally

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS shards (shard INTEGER PRIMARY KEY, texts INTEGER, tokens BIGINT, seconds DOUBLE);
CREATE TABLE IF NOT EXISTS shard_tallies (shard INTEGER, measure VARCHAR, layer INTEGER, head INTEGER,
    count BIGINT, total DOUBLE, total_sq DOUBLE);
CREATE TABLE IF NOT EXISTS shard_examples (shard INTEGER, measure VARCHAR, layer INTEGER, head INTEGER,
    rank INTEGER, value DOUBLE, item_shard INTEGER, item_index INTEGER, text VARCHAR,
    query INTEGER, key INTEGER, query_token VARCHAR, key_token VARCHAR);
CREATE TABLE IF NOT EXISTS shard_syntax (shard INTEGER, relation VARCHAR, direction INTEGER, layer INTEGER,
    head INTEGER, correct BIGINT);
CREATE TABLE IF NOT EXISTS shard_syntax_totals (shard INTEGER, relation VARCHAR, total BIGINT);
CREATE TABLE IF NOT EXISTS shard_syntax_baseline (shard INTEGER, relation VARCHAR, direction INTEGER,
    "offset" INTEGER, correct BIGINT);
"""
EXAMPLE_COLUMNS = ("value", "item_shard", "item_index", "text", "query", "key", "query_token", "key_token")


class AtlasError(ValueError):
    """An atlas file that cannot be used for this job, said in one sentence."""


class AtlasStore:
    """One atlas file: open (creating it), resume, add shards, finish."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        try:
            self.db = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise AtlasError(f"{self.path.name} is not an atlas DuckDB can open ({error}).") from None
        if not read_only:
            self.db.execute(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AtlasStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def adopt(self, settings: dict[str, str]) -> None:
        """Record what this atlas is of; refuse to mix: a file begun with other settings is not resumed."""
        kept = dict(self.db.execute("SELECT key, value FROM settings").fetchall())
        if kept and kept != settings:
            differ = sorted(k for k in settings if kept.get(k) != settings[k])
            raise AtlasError(f"{self.path.name} holds an atlas with other settings ({', '.join(differ)}): "
                             "give another --out to start a new one.")
        if not kept:
            self.db.executemany("INSERT INTO settings VALUES (?, ?)", sorted(settings.items()))

    def done_shards(self) -> set[int]:
        return {s for (s,) in self.db.execute("SELECT shard FROM shards").fetchall()}

    def save_shard(self, shard: int, tally: Tally, seconds: float) -> None:
        """One finished shard, all or nothing (an interrupted save leaves the shard to be done again)."""
        measure, layer, head = (a.ravel() for a in np.indices(tally.count.shape))
        sums = pa.table({
            "shard": np.full(measure.size, shard, np.int32), "measure": [MEASURES[m] for m in measure],
            "layer": layer.astype(np.int32), "head": head.astype(np.int32), "count": tally.count.ravel(),
            "total": tally.total.ravel(), "total_sq": tally.total_sq.ravel(),
        })
        rows = [(shard, MEASURES[m], layer, head, rank, *(getattr(e, c) for c in _EXAMPLE_FIELDS))
                for (m, layer, head), found in sorted(tally.examples.items()) for rank, e in enumerate(found)]
        examples = pa.table(list(zip(*rows, strict=True)) if rows else [[] for _ in _SHARD_EXAMPLE_NAMES],
                            names=list(_SHARD_EXAMPLE_NAMES))
        self.db.execute("BEGIN TRANSACTION")
        try:
            self._write("INSERT INTO shard_tallies", sums)
            if rows:
                self._write("INSERT INTO shard_examples", examples)
            for table, rows in _syntax_rows(shard, tally.syntax).items():
                if rows.num_rows:
                    self._write(f"INSERT INTO {table}", rows)
            self.db.execute("INSERT INTO shards VALUES (?, ?, ?, ?)", [shard, tally.texts, tally.tokens, seconds])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def shard_tallies(self) -> list[Tally]:
        """Every saved shard's tally, in shard order."""
        layers, heads = self.db.execute("SELECT max(layer) + 1, max(head) + 1 FROM shard_tallies").fetchone()
        tallies = []
        saved = self.db.execute("SELECT shard, texts, tokens FROM shards ORDER BY shard").fetchall()
        for shard, texts, tokens in saved:
            shape = (len(MEASURES), layers, heads)
            count, total, total_sq = np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape)
            for name, layer, head, c, t, t2 in self.db.execute(
                    "SELECT measure, layer, head, count, total, total_sq FROM shard_tallies WHERE shard = ?",
                    [shard]).fetchall():
                m = MEASURES.index(name)
                count[m, layer, head], total[m, layer, head], total_sq[m, layer, head] = c, t, t2
            examples: dict[tuple[int, int, int], list[Example]] = {}
            for name, layer, head, *fields in self.db.execute(
                    f"SELECT measure, layer, head, {', '.join(EXAMPLE_COLUMNS)} FROM shard_examples "
                    "WHERE shard = ? ORDER BY measure, layer, head, rank", [shard]).fetchall():
                examples.setdefault((MEASURES.index(name), layer, head), []).append(Example(*fields))
            syntax = self._shard_syntax(shard, layers, heads)
            tallies.append(Tally(count, total, total_sq, examples, texts, tokens, syntax))
        return tallies

    def _shard_syntax(self, shard: int, layers: int, heads: int) -> SyntaxCounts:
        counts = SyntaxCounts.empty(layers, heads)
        for relation, direction, layer, head, correct in self.db.execute(
                "SELECT relation, direction, layer, head, correct FROM shard_syntax WHERE shard = ?",
                [shard]).fetchall():
            counts.correct[RELATIONS.index(relation), direction, layer, head] = correct
        for relation, total in self.db.execute(
                "SELECT relation, total FROM shard_syntax_totals WHERE shard = ?", [shard]).fetchall():
            counts.total[RELATIONS.index(relation)] = total
        for relation, direction, offset, correct in self.db.execute(
                'SELECT relation, direction, "offset", correct FROM shard_syntax_baseline WHERE shard = ?',
                [shard]).fetchall():
            counts.baseline[RELATIONS.index(relation), direction, OFFSETS.index(offset)] = correct
        return counts

    def finish(self, tally: Tally, run: dict) -> None:
        """Write the merged atlas: `heads` (a column per measure and its standard deviation), `examples`, and
        one row in `runs`."""
        mean, std = tally.mean, tally.std
        _, layers, heads = tally.count.shape
        layer, head = (a.ravel() for a in np.indices((layers, heads)))
        columns = {"layer": layer.astype(np.int32), "head": head.astype(np.int32)}
        for m, name in enumerate(MEASURES):
            columns[name], columns[f"{name}_std"] = mean[m].ravel(), std[m].ravel()
        heads_table = pa.table(columns)
        rows = [(layer, head, MEASURES[m], rank, e.value, e.text, e.query, e.key, e.query_token, e.key_token)
                for (m, layer, head), found in sorted(tally.examples.items()) for rank, e in enumerate(found, 1)]
        names = ["layer", "head", "measure", "rank", "value", "text", "query", "key", "query_token", "key_token"]
        examples_table = pa.table(list(zip(*rows, strict=True)) if rows else [[] for _ in names], names=names)
        runs_table = pa.table({k: [json.dumps(v) if isinstance(v, dict) else v] for k, v in run.items()})
        syntax_table = _syntax_table(tally.syntax)
        self.db.execute("BEGIN TRANSACTION")
        self._write("CREATE OR REPLACE TABLE heads AS", heads_table)
        self._write("CREATE OR REPLACE TABLE examples AS", examples_table)
        self._write("CREATE OR REPLACE TABLE syntax AS", syntax_table)
        self._write("CREATE TABLE IF NOT EXISTS runs AS", runs_table, "LIMIT 0")
        self._write("INSERT INTO runs", runs_table)
        self.db.execute("COMMIT")

    def _write(self, statement: str, table: pa.Table, tail: str = "") -> None:
        """`statement` SELECT * FROM an Arrow table (e.g. "INSERT INTO shards")."""
        self.db.register("incoming", table)
        try:
            self.db.execute(f"{statement} SELECT * FROM incoming {tail}")
        finally:
            self.db.unregister("incoming")


_EXAMPLE_FIELDS = ("value", "shard", "index", "text", "query", "key", "query_token", "key_token")
_SHARD_EXAMPLE_NAMES = ("shard", "measure", "layer", "head", "rank", *EXAMPLE_COLUMNS)


def _syntax_rows(shard: int, counts: SyntaxCounts) -> dict[str, pa.Table]:
    """One shard's syntax counts as rows of the three shard tables (zeros left out)."""
    r, d, layer, head = np.nonzero(counts.correct)
    relations = [RELATIONS[i] for i in r]
    correct = pa.table({"shard": np.full(r.size, shard, np.int32), "relation": relations,
                        "direction": d.astype(np.int32), "layer": layer.astype(np.int32),
                        "head": head.astype(np.int32), "correct": counts.correct[r, d, layer, head]})
    (seen,) = np.nonzero(counts.total)
    totals = pa.table({"shard": np.full(seen.size, shard, np.int32), "relation": [RELATIONS[i] for i in seen],
                       "total": counts.total[seen]})
    r, d, k = np.nonzero(counts.baseline)
    baseline = pa.table({"shard": np.full(r.size, shard, np.int32), "relation": [RELATIONS[i] for i in r],
                         "direction": d.astype(np.int32), "offset": np.array(OFFSETS)[k].astype(np.int32),
                         "correct": counts.baseline[r, d, k]})
    return {"shard_syntax": correct, "shard_syntax_totals": totals, "shard_syntax_baseline": baseline}


def _syntax_table(counts: SyntaxCounts) -> pa.Table:
    """Per relation seen, direction, layer and head: the head's accuracy beside the best fixed-offset baseline."""
    columns: dict[str, list] = {c: [] for c in ("layer", "head", "relation", "direction", "accuracy", "count",
                                                 "baseline", "baseline_offset")}
    _, _, layers, heads = counts.correct.shape
    layer, head = (a.ravel() for a in np.indices((layers, heads)))
    for r in np.nonzero(counts.total)[0]:
        total = int(counts.total[r])
        for d, direction in enumerate(DIRECTIONS):
            best = int(counts.baseline[r, d].argmax())
            columns["layer"] += layer.tolist()
            columns["head"] += head.tolist()
            columns["relation"] += [RELATIONS[r]] * layer.size
            columns["direction"] += [direction] * layer.size
            columns["accuracy"] += (counts.correct[r, d].ravel() / total).tolist()
            columns["count"] += [total] * layer.size
            columns["baseline"] += [counts.baseline[r, d, best] / total] * layer.size
            columns["baseline_offset"] += [OFFSETS[best]] * layer.size
    return pa.table(columns)
