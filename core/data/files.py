"""Reading local files row by row, each row with where it came from (`FILE:LINE`, `FILE row N`), so
that any loader's error names the file and the line: JSON Lines, Parquet, CSV and TSV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from core.data.corpus import DataSourceError

TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".tsv")


def jsonl_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(`FILE:LINE`, row) of every non-blank line of a UTF-8 JSON Lines file."""
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
                if line.strip():
                    yield f"{path}:{line_no}", json.loads(line)
            except UnicodeDecodeError as e:
                raise DataSourceError(
                    f"{path}:{line_no}: not UTF-8 text (byte {e.start + 1} of the line); "
                    "save the file as UTF-8"
                ) from e
            except (ValueError, RecursionError) as e:  # not JSON, a 5,000-digit number, nested too deeply
                raise DataSourceError(f"{path}:{line_no}: not valid JSON ({getattr(e, 'msg', e)})") from e


def parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(`FILE row N`, row) of every row of a Parquet file."""
    for n, row in enumerate(_parquet(path).to_dict("records"), 1):
        yield f"{path} row {n}", row


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, TSV, JSON Lines or Parquet file as a table of strings (missing cells: None)."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataSourceError(f"{path}: not a table file (expected one of {', '.join(TABLE_SUFFIXES)})")
    if suffix == ".parquet":
        return _parquet(path)
    if suffix in (".jsonl", ".json"):
        rows = list(jsonl_rows(path))
        bad = next((where for where, row in rows if not isinstance(row, dict)), None)
        if bad:
            raise DataSourceError(f'{bad}: a row is a JSON object ({{"text": ...}}), not a list or a value')
        return pd.DataFrame([row for _, row in rows])
    try:
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    except UnicodeDecodeError as e:
        raise DataSourceError(f"{path}: not UTF-8 text; save the file as UTF-8") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataSourceError(f"{path}: not a readable {suffix[1:].upper()} file ({e})") from e


def _parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises its own kinds for a file that is not parquet
        raise DataSourceError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from e
