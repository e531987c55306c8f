"""The *Add a corpus* panel: an uploaded file (CSV, TSV, JSONL, Parquet, or a zip of a BEIR folder)
with a name and, for a table, the column holding the text; added by `core.pipeline.new_corpus.add`
under a live progress bar (each checkpoint's passage vectors encoded and kept in the corpus's folder;
its Chroma index is built in the background when the app opens it, its maps on first use), then
picked, so it is searchable when the bar ends. The upload is written to a temporary folder under its
own file name (so an error names it), never into the repository."""

from __future__ import annotations

import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from core.common.artifacts import PREFERRED as COMPARED
from core.common.artifacts import write_atomic
from core.common.outputs import OutputError
from core.common.types import pace
from core.data.corpora import name_problem
from core.data.corpus import DataSourceError
from core.data.files import TABLE_SUFFIXES, read_table
from core.data.tables import Columns
from core.pipeline.new_corpus import add
from views.parts.corpus_picker import choose

UPLOAD_TYPES = [s.lstrip(".") for s in TABLE_SUFFIXES] + ["zip"]
GUESS = "(guess from the column names)"
PROBLEMS = (DataSourceError, OutputError, ValueError, FileNotFoundError)  # one message each, no traceback


def plain(text: str) -> str:
    """`text` escaped for markdown, so a file's name or contents is shown as it is."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", str(text))


def suggested_name(file_name: str) -> str:
    """A corpus name from an uploaded file's name: `Course Notes.csv` -> `course-notes`."""
    stem = Path(file_name).name.split(".")[0].lower()
    return re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-_")[:40]


def _message(error: Exception, folder: Path) -> str:
    """An error's text, escaped for markdown, naming the uploaded file without its temporary folder."""
    return plain(str(error).replace(f"{folder}/", ""))


@contextmanager
def saved(upload):
    """The uploaded file, written under its own name in a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="corpus-upload-") as folder:
        path = Path(folder) / (Path(upload.name).name or "upload")
        write_atomic(path, lambda f: f.write(upload.getvalue()))
        yield path


def _columns(upload) -> list[str]:
    """A table's column names (none for a zip), read once per uploaded file."""
    if Path(upload.name).suffix.lower() == ".zip":
        return []
    cache = st.session_state.setdefault("upload_columns", {})
    if upload.file_id not in cache:
        with saved(upload) as path:
            try:
                cache[upload.file_id] = [str(c) for c in read_table(path).columns]
            except DataSourceError as e:
                raise DataSourceError(_message(e, path.parent)) from e
    return cache[upload.file_id]


def _tally(bar):
    """A progress callback (done, total) for `add`, that knows which checkpoint is encoding from the
    log lines `add` writes after each one."""
    step = {"model": 0}

    def log(line: str) -> None:
        if any(f"] {m}: " in line for m in COMPARED) and "passage vectors" in line:
            step["model"] += 1

    def progress(done: int, total: int) -> None:
        i = min(step["model"], len(COMPARED) - 1)
        if step.get("timed") != i:  # each model's encoding timed from its start
            step["timed"], step["started"] = i, time.perf_counter()
        share = (i + done / max(total, 1)) / len(COMPARED)
        bar.progress(
            min(share, 1.0),
            text=f"Encoding {total:,} passages with the {COMPARED[i]} model "
            f"({i + 1} of {len(COMPARED)}): {done:,} done, "
            f"{pace(done, total, time.perf_counter() - step['started'])}",
        )

    return progress, log


def _add(name: str, upload, text_column: str | None) -> None:
    """Add the upload as corpus `name` under a progress bar; pick it and rerun when done, else show
    what went wrong as one message."""
    bar = st.progress(0.0, text=f"Reading {plain(upload.name)}…")
    progress, log = _tally(bar)
    t0 = time.perf_counter()
    try:
        with saved(upload) as path:
            try:
                corpus = add(
                    name,
                    str(path),
                    Columns(text=text_column),
                    progress=progress,
                    log=log,
                    index=False,
                    maps=False,
                )
            except PROBLEMS as e:
                bar.empty()
                st.error(f"**The corpus could not be added.** {_message(e, path.parent)}")
                return
    finally:
        bar.empty()
    st.session_state.corpus_added = (
        name,
        len(corpus.passages),
        len(corpus.queries),
        time.perf_counter() - t0,
    )
    st.session_state.uploads = st.session_state.get("uploads", 0) + 1  # a fresh, empty panel
    choose(name)
    st.rerun()


def add_corpus_panel() -> None:
    """The panel: file, name, text column, and the button that adds it."""
    n = st.session_state.get("uploads", 0)
    upload = st.file_uploader(
        "A file of passages",
        type=UPLOAD_TYPES,
        key=f"corpus_file_{n}",
        help="CSV, TSV, JSONL or Parquet: one passage a row (a text column; id and title optional). "
        "Or a zip of a BEIR folder: corpus.jsonl, with queries.jsonl and qrels/test.tsv for judgements.",
    )
    if upload is None:
        st.caption("Drop a file above: the passages are read, encoded by both models, and searchable.")
        return
    suggestion = suggested_name(upload.name) or "my-corpus"
    name = st.text_input("Name", key=f"corpus_name_{n}", placeholder=suggestion, max_chars=40).strip()
    try:
        columns = _columns(upload)
    except DataSourceError as e:
        st.error(f"**This file cannot be read.** {e}")
        return
    text = st.selectbox("Text column", [GUESS, *columns], key=f"corpus_text_{n}") if columns else GUESS
    if st.button("Add the corpus", type="primary", key=f"corpus_add_{n}"):
        problem = name_problem(name or suggestion)
        if problem:
            st.error(plain(problem))
            return
        _add(name or suggestion, upload, None if text == GUESS else text)
