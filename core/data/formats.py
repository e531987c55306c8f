"""Every source a corpus can come from, one registry line each: the project's own corpus file, MS
MARCO v1.1 (the hub, or local JSONL/Parquet), a BEIR folder or zip, a table of passages (CSV, TSV,
JSON Lines, Parquet) and a Hugging Face dataset. `load` takes the first format that recognises the
source. A new format is one loader function and one line in `FORMATS`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from core.data.beir import is_beir, load_beir
from core.data.corpus import Corpus, DataSourceError
from core.data.msmarco import is_v11_row, load_hub, load_local
from core.data.stored import is_corpus_file, read_corpus
from core.data.tables import Columns, is_table, load_hf, load_table


@dataclass(frozen=True)
class Format:
    name: str
    recognises: Callable[[str], bool]  # the source as given: a path, `hub[:SPLIT]`, `hf:NAME[:SPLIT]`
    load: Callable[[str, Columns], Corpus]


def _path(test: Callable[[Path], bool]) -> Callable[[str], bool]:
    return lambda source: Path(source).expanduser().exists() and test(Path(source).expanduser())


def is_msmarco(path: Path) -> bool:
    """A v1.1-schema file, or a folder whose first .jsonl/.parquet file is one (by its first row)."""
    files = (
        sorted(f for f in path.rglob("*") if f.suffix in (".jsonl", ".parquet")) if path.is_dir() else [path]
    )
    if not files:
        return False
    first = files[0]
    try:
        if first.suffix == ".parquet":
            return {"query_id", "passages"} <= set(pq.read_schema(first).names)
        with open(first, encoding="utf-8") as f:
            line = next((line for line in f if line.strip()), "")
        return is_v11_row(json.loads(line))
    except (OSError, ValueError, UnicodeDecodeError):
        return False


FORMATS: list[Format] = [
    Format("corpus file", _path(is_corpus_file), lambda s, c: read_corpus(Path(s).expanduser())),
    Format("MS MARCO hub", lambda s: s.split(":")[0] == "hub", lambda s, c: load_hub(s[4:] or "train")),
    Format("Hugging Face dataset", lambda s: s.startswith("hf:"), lambda s, c: load_hf(s[3:], c)),
    Format("BEIR", _path(is_beir), lambda s, c: load_beir(Path(s).expanduser())),
    Format("MS MARCO v1.1", _path(is_msmarco), lambda s, c: load_local(Path(s).expanduser())),
    Format("table", _path(is_table), lambda s, c: load_table(Path(s).expanduser(), c)),
]


def load(source: str, columns: Columns | None = None) -> Corpus:
    """The corpus in `source`, by the first format of `FORMATS` that recognises it."""
    for fmt in FORMATS:
        if fmt.recognises(source):
            return fmt.load(source, columns or Columns())
    if not Path(source).expanduser().exists():
        raise DataSourceError(f"{source} does not exist: give a file, a folder, 'hub' or 'hf:DATASET'")
    raise DataSourceError(
        f"{source}: not a format this project reads. Give a CSV, TSV, JSONL or Parquet file of passages, "
        "a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a zip of one, MS MARCO v1.1 files, "
        "'hub' or 'hf:DATASET'"
    )
