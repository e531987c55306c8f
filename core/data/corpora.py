"""The corpora the project knows, by name. `msmarco` is the one the checkpoints were trained and
measured on: by default the demo corpus file that ships in `artifacts/` (no download, no other copy
needed), or any MS MARCO source named by `MSMARCO_SOURCE` (or `--data`): 'hub', local v1.1 files.
Every other corpus was added (`python -m core corpus add`) and is kept in `artifacts/corpora/NAME/`,
its passages, queries and judgements in `corpus.zip` beside what was made from them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.common.artifacts import artifacts_dir
from core.data.corpus import Corpus, DataSourceError
from core.data.formats import FORMATS
from core.data.msmarco import load_local
from core.data.stored import read_corpus
from core.data.tables import Columns

DEFAULT = "msmarco"
DEMO_FILE = "demo_corpus.zip"
SOURCE_ENV = "MSMARCO_SOURCE"
CORPUS_FILE = "corpus.zip"
MSMARCO_FORMATS = ("corpus file", "MS MARCO hub", "MS MARCO v1.1")  # what `msmarco` may be read from
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def demo_file(artifacts: Path | None = None) -> Path:
    return (artifacts or artifacts_dir()) / DEMO_FILE


def resolve_source(source: str | None = None) -> str:
    """Where `msmarco` comes from: `source`, else `MSMARCO_SOURCE`, else the shipped demo corpus."""
    return source or os.environ.get(SOURCE_ENV) or str(demo_file())


def load_corpus(source: str | None = None) -> Corpus:
    """The MS MARCO corpus of the checkpoints (`resolve_source`)."""
    source = resolve_source(source)
    remote = source.split(":")[0] in ("hub", "hf")
    if not remote and not Path(source).expanduser().exists():
        if source == str(demo_file()):
            raise DataSourceError(
                f"the demo corpus {source} is missing: restore it (`git checkout -- {DEMO_FILE}` in "
                f"artifacts/), or set {SOURCE_ENV} to MS MARCO v1.1 files or 'hub'"
            )
        raise DataSourceError(
            f"MS MARCO source {source} does not exist: set {SOURCE_ENV} (or --data) to v1.1-schema "
            ".jsonl/.parquet files or 'hub', or leave it unset for the shipped demo corpus"
        )
    msmarco = [f for f in FORMATS if f.name in MSMARCO_FORMATS]
    found = next((f for f in msmarco if f.recognises(source)), None)
    # anything else is read as v1.1 rows, whose error names the file and what is wrong with it
    return found.load(source, Columns()) if found else load_local(Path(source).expanduser())


def corpora_dir(artifacts: Path | None = None) -> Path:
    return (artifacts or artifacts_dir()) / "corpora"


def corpus_dir(name: str, artifacts: Path | None = None) -> Path:
    return corpora_dir(artifacts) / name


def added(artifacts: Path | None = None) -> list[str]:
    """The added corpora, by name: folders of `artifacts/corpora/` holding a complete corpus file."""
    root = corpora_dir(artifacts)
    return sorted(p.name for p in root.glob("*") if _NAME.fullmatch(p.name) and (p / CORPUS_FILE).is_file())


def names(artifacts: Path | None = None) -> list[str]:
    return [DEFAULT, *added(artifacts)]


def name_problem(name: str) -> str | None:
    """What is wrong with `name` as a new corpus's name, or None."""
    if not _NAME.fullmatch(name or ""):
        return f"{name!r:.60} is not a corpus name: use 1-40 lower-case letters, digits, '-' or '_'"
    if name == DEFAULT:
        return f"{DEFAULT!r} is the demo corpus; choose another name"
    return None


def open_corpus(name: str, artifacts: Path | None = None) -> Corpus:
    """The corpus called `name`: `msmarco`, or one that was added."""
    if name == DEFAULT:
        return load_corpus()
    path = corpus_dir(name, artifacts) / CORPUS_FILE
    if not path.is_file():
        known = ", ".join(names(artifacts))
        raise DataSourceError(
            f"no corpus called {name!r:.60} (known: {known}); add it with `python -m core corpus add`"
        )
    return read_corpus(path)
