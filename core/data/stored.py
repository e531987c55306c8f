"""The project's own corpus file: one zip of three zstd Parquet tables (`passages`, `queries` with
their candidate lists, `qrels`) and a small `meta.json`. It is how an added corpus is kept
(`artifacts/corpora/NAME/corpus.zip`) and how the demo corpus ships (`artifacts/demo_corpus.zip`):
read in well under a second, with no other copy of the data needed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd

from core.common.artifacts import write_atomic
from core.data.corpus import Corpus, DataSourceError

FORMAT = 1
TABLES = ("passages", "queries", "qrels")


def write_corpus(corpus: Corpus, path: str | Path) -> None:
    """Store `corpus` in `path`, whole or not at all."""
    queries = corpus.queries.assign(
        candidates=[corpus.candidates.get(q, []) for q in corpus.queries.query_id]
    )
    qrels = pd.DataFrame(
        [(q, p, g) for q, judged in corpus.qrels.items() for p, g in judged.items()],
        columns=["query_id", "pid", "grade"],
    )
    tables = {"passages": corpus.passages, "queries": queries, "qrels": qrels}
    meta = {"format": FORMAT, "source": corpus.source, "held_out": corpus.held_out}

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            for name, table in tables.items():
                buffer = io.BytesIO()
                table.to_parquet(buffer, compression="zstd", index=False)
                z.writestr(f"{name}.parquet", buffer.getvalue())
            z.writestr("meta.json", json.dumps(meta))

    write_atomic(path, write)


def is_corpus_file(path: Path) -> bool:
    """Whether `path` is a file `write_corpus` wrote (a zip holding its tables)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {f"{t}.parquet" for t in TABLES} | {"meta.json"} <= set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_corpus(path: str | Path) -> Corpus:
    """The corpus `write_corpus` stored in `path`; a damaged file is a `DataSourceError` saying so."""
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("meta.json"))
            tables = {t: pd.read_parquet(io.BytesIO(z.read(f"{t}.parquet"))) for t in TABLES}
    except Exception as e:  # zip, JSON and Parquet each raise their own kinds for a damaged file
        raise DataSourceError(
            f"{path} is not a readable corpus file ({type(e).__name__}: {e}); add the corpus again "
            "(`python -m core corpus add`), or for the demo corpus restore it with `git checkout`"
        ) from e
    queries, qrels = tables["queries"], tables["qrels"]
    judged: dict[str, dict[str, int]] = {}
    for q, p, g in zip(qrels.query_id.tolist(), qrels.pid.tolist(), qrels.grade.tolist()):
        judged.setdefault(q, {})[p] = int(g)
    return Corpus(
        passages=tables["passages"],
        queries=queries.drop(columns="candidates"),
        qrels=judged,
        candidates={q: list(c) for q, c in zip(queries.query_id.tolist(), queries.candidates) if len(c)},
        source=meta.get("source", str(path)),
        held_out=bool(meta.get("held_out")),
    )
