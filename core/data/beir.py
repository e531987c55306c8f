"""A test collection in the BEIR layout: `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl`
({"_id", "text"}) and `qrels/<split>.tsv` (query-id, corpus-id, score, with a header line), as a
folder or a zip of one. Documents are kept as the collection has them (empty ones too: a judgement
may name one); a duplicate id, a judgement naming an unknown document or query, or a malformed line
is an error naming the file and the line."""

from __future__ import annotations

import csv
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from core.data.corpus import Corpus, DataSourceError
from core.data.files import jsonl_rows

SPLIT = "test"


def is_beir(path: Path) -> bool:
    """A BEIR folder, or a zip holding one (at its top or one folder down)."""
    if path.is_dir():
        return (path / "corpus.jsonl").is_file()
    return zipfile.is_zipfile(path) and _zip_root(path) is not None


def load_beir(path: Path, split: str = SPLIT) -> Corpus:
    """The collection in `path` (a folder or a zip of one) with the judgements of `split`."""
    if path.is_dir():
        return _load_folder(path, split, str(path))
    with tempfile.TemporaryDirectory() as tmp:
        root = _zip_root(path)
        with zipfile.ZipFile(path) as z:
            z.extractall(tmp, members=[m for m in z.namelist() if m.startswith(root) and ".." not in m])
        return _load_folder(Path(tmp) / root, split, str(path))


def _zip_root(path: Path) -> str | None:
    with zipfile.ZipFile(path) as z:
        roots = [n[: -len("corpus.jsonl")] for n in z.namelist() if n.endswith("corpus.jsonl")]
    return min(roots, key=len) if roots else None


def _load_folder(folder: Path, split: str, source: str) -> Corpus:
    passages = _documents(folder / "corpus.jsonl")
    queries = _queries(folder / "queries.jsonl")
    qrels = _qrels(_qrels_file(folder, split), set(passages.pid), set(queries.query_id))
    return Corpus(passages=passages, queries=queries, qrels=qrels, source=source, held_out=True)


def _documents(path: Path) -> pd.DataFrame:
    rows = _rows(path, required=("_id",), texts=("title", "text"))
    return pd.DataFrame(
        [(r["_id"], r.get("title") or "", r.get("text") or "") for r in rows],
        columns=["pid", "title", "text"],
    )


def _queries(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=["query_id", "text"])
    rows = _rows(path, required=("_id", "text"), texts=("text",))
    return pd.DataFrame([(r["_id"], r["text"]) for r in rows], columns=["query_id", "text"])


def _rows(path: Path, required: tuple[str, ...], texts: tuple[str, ...]) -> list[dict]:
    """The rows of a BEIR JSONL file, ids as strings; a missing field, a text that is not a string or
    a repeated id is an error naming the line."""
    if not path.is_file():
        raise DataSourceError(f"{path} is missing: a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/")
    rows, seen = [], set()
    for where, row in jsonl_rows(path):
        if not isinstance(row, dict) or any(row.get(k) is None for k in required):
            raise DataSourceError(f"{where}: each line is a JSON object with {', '.join(required)}")
        bad = next((k for k in texts if not isinstance(row.get(k, ""), str)), None)
        if bad:
            raise DataSourceError(f"{where}: {bad} is a {type(row[bad]).__name__}, not a string")
        row = {**row, "_id": str(row["_id"])}
        if row["_id"] in seen:
            raise DataSourceError(f"{where}: id {row['_id']!r:.60} appears twice; ids must be unique")
        seen.add(row["_id"])
        rows.append(row)
    if not rows:
        raise DataSourceError(f"{path} holds no rows")
    return rows


def _qrels_file(folder: Path, split: str) -> Path | None:
    path = folder / "qrels" / f"{split}.tsv"
    if path.is_file():
        return path
    others = sorted((folder / "qrels").glob("*.tsv"))
    return others[0] if len(others) == 1 else None


def _qrels(path: Path | None, pids: set[str], qids: set[str]) -> dict[str, dict[str, int]]:
    """query id -> {passage id: grade} of the rows with a grade above 0."""
    if path is None:
        return {}
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if line_no == 1 and row[:1] == ["query-id"] or not row:
                continue
            where = f"{path}:{line_no}"
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                raise DataSourceError(f"{where}: expected query-id<TAB>corpus-id<TAB>score (a whole number)")
            q, p, grade = row[0], row[1], int(row[2])
            if p not in pids:
                raise DataSourceError(f"{where}: judges document {p!r:.60}, which corpus.jsonl does not hold")
            if q not in qids:
                raise DataSourceError(f"{where}: judges query {q!r:.60}, which queries.jsonl does not hold")
            if grade > 0:
                qrels.setdefault(q, {})[p] = grade
    return qrels
