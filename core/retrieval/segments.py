"""The segment folders of an embedded Chroma folder: Chroma leaves a deleted collection's HNSW folder
behind (a forced rebuild grew `chroma/` by the size of every index it replaced), so the folders that
no collection references any more are removed (`remove_orphans`). A folder is referenced from the
moment its collection is created, before Chroma writes it, so one being built is never taken."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path


def _segment_name(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def orphans(folder: str | Path) -> list[Path]:
    """The segment folders (named by a segment's UUID) of the Chroma folder `folder` that its
    database does not reference; none when the database is missing or cannot be read."""
    folder, db = Path(folder), Path(folder) / "chroma.sqlite3"
    if not db.is_file():
        return []
    try:
        with closing(sqlite3.connect(db, timeout=30)) as con:
            referenced = {row[0] for row in con.execute("SELECT id FROM segments")}
    except sqlite3.Error:
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_dir() and _segment_name(p.name) and p.name not in referenced
    )


def remove_orphans(folder: str | Path) -> list[str]:
    """Remove the `orphans` of `folder`; returns their names."""
    gone = orphans(folder)
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in gone]
