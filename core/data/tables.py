"""A table of passages: a CSV, TSV, JSON Lines or Parquet file, or a Hugging Face dataset, one
passage a row. `Columns` names the text, id and title columns; where one is not given, a column of
a usual name is taken (`text`, `passage`, `content`, …); without an id column, ids are hashes of the
texts. A corpus of passages alone has no queries: Search and Compare work on it, metrics need
judgements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.data.corpus import Corpus, DataSourceError, passage_id
from core.data.files import TABLE_SUFFIXES, read_table

GUESSES = {
    "text": ("text", "passage", "passage_text", "content", "contents", "body", "abstract", "document"),
    "id": ("id", "_id", "pid", "docid", "doc_id", "passage_id", "document_id"),
    "title": ("title", "heading", "name"),
}


@dataclass(frozen=True)
class Columns:
    """Which columns hold each passage's text, id and title (None: guessed from the usual names)."""

    text: str | None = None
    id: str | None = None
    title: str | None = None


def is_table(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in TABLE_SUFFIXES


def load_table(path: Path, columns: Columns | None = None) -> Corpus:
    """The passages of a CSV, TSV, JSON Lines or Parquet file."""
    first_line = 2 if path.suffix.lower() in (".csv", ".tsv") else 1  # a header line comes first
    return passages_corpus(read_table(path), columns or Columns(), str(path), first_line)


def load_hf(name: str, columns: Columns | None = None) -> Corpus:
    """The passages of a Hugging Face dataset, `NAME` or `NAME:SPLIT` (default split: train)."""
    dataset, _, split = name.partition(":")
    try:
        import datasets

        table = datasets.load_dataset(dataset, split=split or "train").to_pandas()
    except Exception as e:  # network, a missing dataset or split: the same advice
        raise DataSourceError(
            f"could not load {dataset!r} (split {split or 'train'!r}) from the Hugging Face hub: {e}. "
            "Without internet, download it elsewhere and add the file (CSV, JSONL or Parquet)."
        ) from e
    return passages_corpus(table, columns or Columns(), f"hf:{name}", 1)


def passages_corpus(table: pd.DataFrame, columns: Columns, source: str, first_line: int) -> Corpus:
    """A corpus of the table's passages; a missing column, an empty text or a repeated id is an error
    naming the source and the row (its line where the file has lines)."""
    text = _column(table, "text", columns.text, source)
    pid = _column(table, "id", columns.id, source, required=False)
    title = _column(table, "title", columns.title, source, required=False)
    texts = [_text(v) for v in table[text]]
    empty = next((n for n, t in enumerate(texts) if not t.strip()), None)
    if empty is not None:
        raise DataSourceError(
            f"{source}: row {empty + first_line} has an empty {text!r}; remove the row or fill in its text"
        )
    ids = [_text(v) for v in table[pid]] if pid else [passage_id(t) for t in texts]
    seen: dict[str, int] = {}
    for n, i in enumerate(ids):
        if i in seen:
            what = f"id {i!r:.60} (column {pid!r})" if pid else "text (the same passage)"
            raise DataSourceError(
                f"{source}: rows {seen[i] + first_line} and {n + first_line} share the {what}; "
                "each passage must appear once"
            )
        seen[i] = n
    titles = [_text(v) for v in table[title]] if title else [""] * len(texts)
    return Corpus(pd.DataFrame({"pid": ids, "title": titles, "text": texts}), source=source)


def _column(table: pd.DataFrame, role: str, given: str | None, source: str, required: bool = True):
    """The column that holds `role`: the given one (an error when the table lacks it), else the first
    of the usual names, else, for the text, an error listing the columns."""
    if given is not None:
        if given not in table.columns:
            raise DataSourceError(
                f"{source}: no column {given!r} (--{role}); the columns are {_names(table)}"
            )
        return given
    lower = {str(c).lower(): c for c in table.columns}
    found = next((lower[g] for g in GUESSES[role] if g in lower), None)
    if found is None and required:
        raise DataSourceError(
            f"{source}: which column holds the passages' text? None is named "
            f"{', '.join(GUESSES[role][:4])}, …; pass --text COLUMN (the columns are {_names(table)})"
        )
    return found


def _names(table: pd.DataFrame) -> str:
    names = ", ".join(repr(str(c))[:40] for c in list(table.columns)[:20])
    return names + (", …" if len(table.columns) > 20 else "") if names else "none: an empty table"


def _text(value) -> str:
    """A cell as text: a missing cell is empty, anything else its string."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)
