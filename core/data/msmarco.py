"""MS MARCO v1.1 rows, from the Hugging Face hub or local JSONL/parquet files, through one code path.

Rows in the v1.1 schema are normalised into a `Corpus`: a table of queries, a table of unique
passages with stable ids (the same text always gets the same id), each query's candidate list and
its judged passages (`is_selected`, grade 1). Fields the loader does not know are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.corpus import Corpus, DataSourceError, passage_id
from core.data.files import jsonl_rows, parquet_rows

HUB_NAME, HUB_CONFIG = "microsoft/ms_marco", "v1.1"


def _sequence(value) -> bool:
    """A list of values as JSON, the hub or parquet give one (not a string, which is a sequence too)."""
    return isinstance(value, (list, tuple, np.ndarray))


def _whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _parse_row(row) -> tuple[str, str, str, list[str], list[int]]:
    """(query id, query, query type, passage texts, is_selected) of one v1.1-schema row, or a
    ValueError saying what is wrong with it; unknown fields are ignored."""
    if not isinstance(row, dict):
        raise ValueError(f"a row is a JSON object, not {type(row).__name__}")
    missing = [k for k in ("query_id", "passages") if row.get(k) is None]
    if missing or not isinstance(row["passages"], dict) or row["passages"].get("passage_text") is None:
        raise ValueError(f"missing {', '.join(missing) or 'passages.passage_text'}")
    if not isinstance(row["query_id"], (str, int, np.integer)) or isinstance(row["query_id"], bool):
        raise ValueError(f"query_id is a {type(row['query_id']).__name__}, not a number or a string")
    if not isinstance(row.get("query", ""), str):
        raise ValueError(f"query is a {type(row['query']).__name__}, not a string")
    texts, selected = row["passages"]["passage_text"], row["passages"].get("is_selected")
    if not _sequence(texts):
        raise ValueError(f"passages.passage_text is a {type(texts).__name__}, not a list of passages")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        kind = "null" if texts[bad] is None else f"a {type(texts[bad]).__name__}"
        raise ValueError(f"passage {bad + 1} is {kind}, not a string")
    selected = [] if selected is None else selected
    if not _sequence(selected) or not all(_whole(s) for s in selected):
        raise ValueError(f"passages.is_selected is {selected!r:.60}, not a list of integers (1: relevant)")
    selected = [int(s) for s in selected] + [0] * (len(texts) - len(selected))
    query_type = str(row.get("query_type") or "")
    return str(row["query_id"]), row.get("query") or "", query_type, list(texts), selected


def build_corpus(rows: Iterable[dict], source: str = "") -> Corpus:
    """Normalise v1.1-schema rows; unknown fields are ignored, malformed rows raise with their number."""
    return _corpus(((f"{source}: row {n}", row) for n, row in enumerate(rows, 1)), source)


def _corpus(located: Iterable[tuple[str, dict]], source: str) -> Corpus:
    """`build_corpus` over (where, row) pairs: a malformed row raises a `DataSourceError` naming where."""
    queries, texts, candidates, qrels = [], {}, {}, {}
    for where, row in located:
        try:
            qid, query, query_type, passage_texts, selected = _parse_row(row)
        except ValueError as e:
            raise DataSourceError(f"{where} is not in the MS MARCO v1.1 schema: {e}") from e
        if qid in candidates:
            continue
        pids = []
        for text in passage_texts:
            pid = passage_id(text)
            texts.setdefault(pid, text.strip())
            if pid not in pids:
                pids.append(pid)
        queries.append((qid, query, query_type))
        candidates[qid] = pids
        qrels[qid] = {passage_id(t): 1 for t, s in zip(passage_texts, selected) if s == 1}
    if not queries:
        raise DataSourceError(f"{source}: no rows found")
    return Corpus(
        passages=pd.DataFrame(list(texts.items()), columns=["pid", "text"]),
        queries=pd.DataFrame(queries, columns=["query_id", "text", "query_type"]),
        qrels=qrels,
        candidates=candidates,
        source=source,
    )


def _local_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.suffix in (".jsonl", ".json", ".parquet"))
        if not files:
            raise DataSourceError(f"{path} holds no .jsonl or .parquet files")
        return files
    if path.is_file():
        return [path]
    raise DataSourceError(f"{path} does not exist: give a v1.1-schema .jsonl/.parquet file or folder")


def _read_local(files: list[Path]) -> Iterator[tuple[str, dict]]:
    """(where, row) of every row: `FILE:LINE` for JSONL, `FILE row N` for parquet."""
    for f in files:
        yield from (parquet_rows(f) if f.suffix == ".parquet" else jsonl_rows(f))


def is_v11_row(row) -> bool:
    """Whether a row looks like MS MARCO v1.1 (a query with its `passages`), not a table of passages."""
    return isinstance(row, dict) and isinstance(row.get("passages"), dict) and "query_id" in row


def load_local(path: Path) -> Corpus:
    """MS MARCO v1.1-schema rows from a .jsonl/.parquet file or a folder of them."""
    return _corpus(_read_local(_local_files(Path(path).expanduser())), source=str(path))


def load_hub(split: str = "train") -> Corpus:
    """MS MARCO v1.1 from the Hugging Face hub (`microsoft/ms_marco`, config v1.1)."""
    try:
        import datasets

        rows = datasets.load_dataset(HUB_NAME, HUB_CONFIG, split=split)
    except Exception as e:  # network, auth, missing package: all end in the same advice
        raise DataSourceError(
            f"could not load {HUB_NAME} ({HUB_CONFIG}, split {split!r}) from the Hugging Face hub: {e}. "
            "Without internet, use the shipped demo corpus (the default) or local v1.1-schema files."
        ) from e
    return build_corpus(rows, source=f"hub:{split}")
