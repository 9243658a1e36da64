"""A finished atlas, read for display: the heads × measures table, ranks, a head's top examples, the heads most
like it, and Parquet exports."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

from models.atlas.reading import HIGHER_IS_MORE, MEASURES
from models.atlas.store import AtlasError

TABLES = ("heads", "examples", "syntax", "runs")
MIN_RELATION_COUNT = 20  # relations seen fewer times in the corpus are left out of the syntax views


@dataclass(frozen=True)
class Atlas:
    """One atlas file's results: per-head means (M, L, H) in MEASURES order, and its run."""

    path: Path
    model: str
    corpus: str
    texts: int
    tokens: int
    run: dict
    means: np.ndarray  # (M, L, H)

    @property
    def num_layers(self) -> int:
        return self.means.shape[1]

    @property
    def num_heads(self) -> int:
        return self.means.shape[2]

    def grid(self, measure: str) -> np.ndarray:
        """(L, H) values of one measure."""
        return self.means[MEASURES.index(measure)]

    def rank(self, measure: str, layer: int, head: int) -> int | None:
        """1 for the head with the most of this role (entropy: the most focused) among all the model's heads;
        None when this atlas did not measure it."""
        values = self.grid(measure).ravel()
        value = self.grid(measure)[layer, head]
        if np.isnan(value):
            return None
        stronger = values > value if HIGHER_IS_MORE[measure] else values < value
        return int(stronger.sum()) + 1

    def similar_heads(self, layer: int, head: int, k: int = 5) -> list[tuple[int, int, float]]:
        """The k heads nearest to this one by their measures, each standardised over the model's heads:
        (layer, head, distance), nearest first."""
        flat = self.means.reshape(len(MEASURES), -1).T  # (L*H, M)
        flat = flat[:, ~np.isnan(flat).any(0)]  # only the measures this atlas has
        spread = flat.std(0)
        z = (flat - flat.mean(0)) / np.where(spread > 0, spread, 1.0)
        me = layer * self.num_heads + head
        distance = np.linalg.norm(z - z[me], axis=1)
        order = [i for i in np.argsort(distance, kind="stable") if i != me][:k]
        return [(int(i) // self.num_heads, int(i) % self.num_heads, float(distance[i])) for i in order]

    def examples(self, layer: int, head: int, measure: str) -> list[dict]:
        """The head's top inputs for one measure, strongest first: value, text, query/key positions and tokens."""
        with duckdb.connect(str(self.path), read_only=True) as db:
            cursor = db.execute(
                "SELECT rank, value, text, query, key, query_token, key_token FROM examples "
                "WHERE layer = ? AND head = ? AND measure = ? ORDER BY rank", [int(layer), int(head), measure])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def syntax(self, layer: int | None = None, head: int | None = None,
               min_count: int = MIN_RELATION_COUNT) -> list[dict]:
        """Relations seen at least `min_count` times, each head's accuracy beside the best fixed-offset baseline,
        by margin over it: for one head, or (no head given) the best head per relation and direction."""
        columns = "relation, direction, layer, head, accuracy, baseline, baseline_offset, count"
        with duckdb.connect(str(self.path), read_only=True) as db:
            tables = {name for (name,) in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "syntax" not in tables:
                return []
            if layer is not None:
                query = f"SELECT {columns} FROM syntax WHERE layer = ? AND head = ? AND count >= ?"
                parameters = [int(layer), int(head), min_count]
            else:  # one row per relation and direction: its best head (ties: the earliest layer, then head)
                query = (f"SELECT {columns} FROM syntax WHERE count >= ? QUALIFY row_number() OVER "
                         "(PARTITION BY relation, direction ORDER BY accuracy DESC, layer, head) = 1")
                parameters = [min_count]
            cursor = db.execute(f"SELECT * FROM ({query}) ORDER BY accuracy - baseline DESC, relation", parameters)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def parquet(self, table: str) -> bytes:
        """One of TABLES as a Parquet file."""
        if table not in TABLES:
            raise ValueError(f"an atlas has tables {', '.join(TABLES)}, not {table!r}")
        with duckdb.connect(str(self.path), read_only=True) as db:
            arrow = db.sql(f"SELECT * FROM {table}").to_arrow_table()
        buffer = io.BytesIO()
        pq.write_table(arrow, buffer)
        return buffer.getvalue()


def open_atlas(path: str | Path) -> Atlas:
    """Read a finished atlas; a file still being built, or not an atlas, is refused in one sentence."""
    path = Path(path)
    try:
        with duckdb.connect(str(path), read_only=True) as db:
            tables = {name for (name,) in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "heads" not in tables or "runs" not in tables:
                raise AtlasError(f"{path.name} is not finished yet: its job has not written the heads table.")
            cursor = db.execute("SELECT * FROM runs ORDER BY started DESC LIMIT 1")
            run = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
            present = {c for (c,) in db.execute("SELECT column_name FROM (DESCRIBE heads)").fetchall()}
            columns = ", ".join(m if m in present else f"NULL::DOUBLE AS {m}" for m in MEASURES)  # older atlases
            heads = db.execute(f"SELECT layer, head, {columns} FROM heads ORDER BY layer, head").fetchnumpy()
    except duckdb.Error as error:
        raise AtlasError(f"{path.name} cannot be read as an atlas ({type(error).__name__}).") from None
    layers, num_heads = int(heads["layer"].max()) + 1, int(heads["head"].max()) + 1
    means = np.stack([np.ma.filled(np.ma.asarray(heads[m], dtype=np.float64), np.nan).reshape(layers, num_heads)
                      for m in MEASURES])  # a measure this atlas lacks (NULL) is NaN
    run["versions"] = json.loads(run["versions"]) if isinstance(run.get("versions"), str) else run.get("versions")
    return Atlas(path, run["model"], run["corpus"], int(run["texts"]), int(run["tokens"]), run, means)


def atlas_for(folder: str | Path, model: str) -> str | None:
    """The file name of the newest finished atlas of `model` in `folder`, or None."""
    found = []
    for path in Path(folder).glob("*.duckdb"):
        try:
            atlas = open_atlas(path)
        except AtlasError:
            continue
        if atlas.model == model:
            found.append((path.stat().st_mtime, path.name))
    return max(found)[1] if found else None
