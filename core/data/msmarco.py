"""MS MARCO v1.1 loading: the Hugging Face hub or local JSONL/parquet files, through one code path.

Rows in the v1.1 schema are normalised into a `Corpus`: a table of queries, a table of unique
passages with stable ids (the same text always gets the same id), each query's candidate list and
its set of positives. Fields the loader does not know are ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HUB_NAME, HUB_CONFIG = "microsoft/ms_marco", "v1.1"
SOURCE_ENV = "MSMARCO_SOURCE"


class DataSourceError(RuntimeError):
    """The data source cannot be read; the message says what to do."""


@dataclass
class Corpus:
    queries: pd.DataFrame  # columns: query_id (str), text, query_type
    passages: pd.DataFrame  # columns: pid (str), text; row order is the corpus order
    candidates: dict[str, list[str]]  # query_id -> its candidate pids, in the file's order
    positives: dict[str, set[str]]  # query_id -> pids judged relevant (may be empty)
    source: str = ""

    def passage_text(self) -> dict[str, str]:
        return dict(zip(self.passages.pid, self.passages.text))

    def relevance(self, query_ids: list[str]) -> np.ndarray:
        """(Q, passages) bool, passages in corpus order: which are judged relevant to each query."""
        row = {pid: i for i, pid in enumerate(self.passages.pid)}
        relevant = np.zeros((len(query_ids), len(self.passages)), dtype=bool)
        for i, q in enumerate(query_ids):
            relevant[i, [row[p] for p in self.positives[q]]] = True
        return relevant

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for qid in sorted(self.candidates):
            h.update(
                f"{qid}\t{','.join(self.candidates[qid])}\t{','.join(sorted(self.positives[qid]))}\n".encode()
            )
        return h.hexdigest()[:16]


def passage_id(text: str) -> str:
    """Stable id of a passage: a hash of its text."""
    return "p" + hashlib.blake2b(text.strip().encode("utf-8"), digest_size=8).hexdigest()


def split_position(query_id: str) -> float:
    """A query's fixed place in [0, 1] by a hash of its id, identical on every machine and run."""
    return int(hashlib.md5(str(query_id).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def is_validation(query_id: str, fraction: float) -> bool:
    return split_position(query_id) < fraction


def is_tuning(query_id: str, val_fraction: float, tune_fraction: float) -> bool:
    """The tuning slice sits right after the validation slice: [val, val + tune)."""
    return val_fraction <= split_position(query_id) < val_fraction + tune_fraction


def split_queries(
    corpus: Corpus, val_fraction: float, tune_fraction: float = 0.0
) -> tuple[list[str], list[str]]:
    """(train query ids, validation query ids), only queries with at least one positive; the tuning
    slice (`tune_queries`) belongs to neither."""
    train, val = [], []
    for qid in corpus.queries.query_id:
        if not corpus.positives[qid] or is_tuning(qid, val_fraction, tune_fraction):
            continue
        (val if is_validation(qid, val_fraction) else train).append(qid)
    return train, val


def tune_queries(corpus: Corpus, val_fraction: float, tune_fraction: float) -> list[str]:
    """The queries (with a positive) that fit settings chosen by a score, such as a fusion weight:
    never trained on, mined from or reported."""
    return [
        q
        for q in corpus.queries.query_id
        if corpus.positives[q] and is_tuning(q, val_fraction, tune_fraction)
    ]


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
    queries, texts, candidates, positives = [], {}, {}, {}
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
        positives[qid] = {passage_id(t) for t, s in zip(passage_texts, selected) if s == 1}
    if not queries:
        raise DataSourceError(f"{source}: no rows found")
    return Corpus(
        queries=pd.DataFrame(queries, columns=["query_id", "text", "query_type"]),
        passages=pd.DataFrame(list(texts.items()), columns=["pid", "text"]),
        candidates=candidates,
        positives=positives,
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
    raise DataSourceError(
        f"data source {path} does not exist. Set {SOURCE_ENV} (or --data) to a v1.1-schema .jsonl/.parquet "
        "file or folder, or to 'hub' to download microsoft/ms_marco v1.1 from Hugging Face."
    )


def _read_local(files: list[Path]) -> Iterator[tuple[str, dict]]:
    """(where, row) of every row: `FILE:LINE` for JSONL, `FILE row N` for parquet."""
    for f in files:
        if f.suffix == ".parquet":
            try:
                records = pd.read_parquet(f).to_dict("records")
            except Exception as e:  # pyarrow raises its own kinds for a file that is not parquet
                raise DataSourceError(f"{f}: not a readable parquet file ({type(e).__name__}: {e})") from e
            yield from ((f"{f} row {n}", r) for n, r in enumerate(records, 1))
            continue
        with open(f, "rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                    if line.strip():
                        yield f"{f}:{line_no}", json.loads(line)
                except UnicodeDecodeError as e:
                    raise DataSourceError(
                        f"{f}:{line_no}: not UTF-8 text (byte {e.start + 1} of the line); "
                        "the data must be UTF-8 JSONL or parquet"
                    ) from e
                except (ValueError, RecursionError) as e:  # not JSON, a 5,000-digit number, nested too deeply
                    raise DataSourceError(f"{f}:{line_no}: not valid JSON ({getattr(e, 'msg', e)})") from e


def _read_hub(split: str) -> Iterator[dict]:
    try:
        import datasets

        ds = datasets.load_dataset(HUB_NAME, HUB_CONFIG, split=split)
    except Exception as e:  # network, auth, missing package: all end in the same advice
        raise DataSourceError(
            f"could not load {HUB_NAME} ({HUB_CONFIG}, split {split!r}) from the Hugging Face hub: {e}. "
            f"Without internet, point {SOURCE_ENV} (or --data) at local v1.1-schema JSONL/parquet files."
        ) from e
    return iter(ds)


def resolve_source(source: str | None = None) -> str:
    return source or os.environ.get(SOURCE_ENV) or "hub"


def load_corpus(source: str | None = None) -> Corpus:
    """Load MS MARCO v1.1 from `source`: 'hub' / 'hub:SPLIT' (default split 'train'), or a local
    file or folder. Without `source`, the `MSMARCO_SOURCE` environment variable, else the hub."""
    source = resolve_source(source)
    if source == "hub" or source.startswith("hub:"):
        split = source.partition(":")[2] or "train"
        return build_corpus(_read_hub(split), source=f"hub:{split}")
    files = _local_files(Path(source).expanduser())
    return _corpus(_read_local(files), source=str(source))
