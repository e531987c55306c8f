"""The files of an embedded Chroma folder. Its segment folders: Chroma leaves a deleted collection's
HNSW folder behind (a forced rebuild grew `chroma/` by the size of every index it replaced), so the
folders that no collection references any more are removed (`remove_orphans`); a folder is referenced
from the moment its collection is created, before Chroma writes it, so one being built is never taken.
Its database: whether it reads (`unreadable`), and whether a failure is a full disk (`disk_full`)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

LOW_SPACE = 64 << 20  # bytes free below which a failing Chroma folder is taken for a full disk, not damage


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


def unreadable(db: Path) -> bool:
    """Whether the SQLite file `db` exists and fails SQLite's own quick check (or is not a database).
    Opened for writing, so that a journal a failed write left behind is rolled back, not taken for damage."""
    if not db.is_file():
        return False
    try:
        with closing(sqlite3.connect(db, timeout=30)) as con:
            return con.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except sqlite3.OperationalError as e:  # busy with another process's write: not damage
        return "locked" not in str(e) and "busy" not in str(e)
    except sqlite3.DatabaseError:
        return True


def disk_full(folder: Path, error: BaseException | None = None) -> bool:
    """Whether `error` (or one it was raised from) says the disk is full, or `folder`'s disk has
    less than LOW_SPACE free."""
    while error is not None:
        text = str(error).lower()
        if getattr(error, "errno", None) == errno.ENOSPC or "disk is full" in text or "no space left" in text:
            return True
        error = error.__cause__ or error.__context__
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    return shutil.disk_usage(existing).free < LOW_SPACE
