"""Output folders, one writer each: a file lock per output (a second writer is refused, or waits for
the first), the check that a folder may be replaced by a run (never one a run did not make), and the
crash-safe swap that publishes a finished folder, finished or undone at the next start from any
point a crash left it.

A run is written in `.X.partial`, renamed to `.X.ready` when complete, and swapped in as `X` (the
previous `X` moved to `.X.old` meanwhile, removed last). After a crash, `recover(X)` moves a ready
folder in, puts a lone `.X.old` back, and removes what is left over.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RUN_FILES = frozenset({"model.pt", "log.json", "config.json", "passages.npz"})  # what a training run writes
STAGES = ("partial", "ready", "old")  # the siblings `.X.STAGE` of a folder being swapped


class OutputError(RuntimeError):
    """An output is being written by another process, or is not a run's to replace; says what to do."""


def sibling(final: Path, stage: str) -> Path:
    """`.X.STAGE` beside `X` (`partial`, `ready`, `old` or `lock`)."""
    return final.with_name(f".{final.name}.{stage}")


@contextmanager
def hold(lock: str | Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold the file lock `lock` (fcntl; across threads and processes) while writing `what`: refused
    with an `OutputError` when another holder has it, or, with `wait`, waiting for it. The holder's
    pid is written in the file, for the message; the file is removed on release."""
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = _locked(lock, what, wait)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:  # a full disk: the pid only makes the message clearer
            pass
        yield
    finally:
        lock.unlink(missing_ok=True)  # before the release: a waiter then finds its file gone and retries
        os.close(fd)


def check_free(lock: str | Path, what: str) -> None:
    """An `OutputError` when another process holds `lock` (`hold`) now; a free one is left as it was
    found (removed, when a killed holder left it)."""
    if Path(lock).exists():
        with hold(lock, what):
            pass


def _locked(lock: Path, what: str, wait: bool) -> int:
    """A descriptor of `lock` holding its flock, on the file that is at that path now."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 20, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"{what} is being written by another process (pid {holder}); wait for it to "
                "finish, or write somewhere else"
            ) from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder we waited for removed that file: lock the one there now


def replace_problem(folder: Path, force: bool = False) -> str | None:
    """Why a training run must not replace `folder`, or None when it may: it does not exist, is
    empty, or is a finished run (model.pt and nothing but a run's files); with `force`, also an
    unfinished run's files alone. A folder holding anything else is never replaced."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"--out {folder} is a file, not a run folder: choose another --out"
    entries = {p.name for p in folder.iterdir()}
    foreign = sorted(entries - RUN_FILES)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return (
            f"--out {folder} holds {shown}, which no training run wrote; it is never replaced, "
            "not even with --force: choose a new or empty folder"
        )
    if "model.pt" in entries or not entries or force:
        return None
    return (
        f"--out {folder} is not a finished run (no model.pt): pass --force to replace it, or choose another"
    )


def file_problem(path: str | Path, flag: str, head: bytes) -> str | None:
    """Why the output file `path` (given as `flag`) must not be written, or None when it may: it does
    not exist, or it is a regular file that begins with `head`, as the command's own output does.
    Anything else (another file, a folder, a device, a pipe) is never replaced."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        return f"{flag} {path} is not a regular file (a folder, a device or a pipe): give a file's path"
    try:
        with open(path, "rb") as f:
            if f.read(len(head)) == head:
                return None
    except OSError as e:
        return f"{flag} {path} cannot be read ({e.strerror or e}): give another file's path"
    return (
        f"{flag} {path} exists and was not written by this command; it is never replaced: give a new "
        "file's path, or remove that file first"
    )


def partial_dir(final: Path) -> Path:
    """A fresh `.X.partial` folder to build `final` in (call holding `final`'s lock)."""
    tmp = sibling(final, "partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def publish_dir(work: Path, final: str | Path) -> None:
    """Replace `final` by the completed folder `work`: from the first rename on, a crash is finished
    by `recover`; before it, the previous `final` stands."""
    final = Path(final)
    os.replace(work, sibling(final, "ready"))
    _swap_in(final)


def _swap_in(final: Path) -> None:
    ready, old = sibling(final, "ready"), sibling(final, "old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(ready, final)
    shutil.rmtree(old, ignore_errors=True)


def complete_run(folder: Path) -> bool:
    """Whether `folder` holds every file a run publishes (`RUN_FILES`), each a non-empty file."""
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in RUN_FILES)


def recover(final: str | Path) -> None:
    """Finish or undo a swap that a crash interrupted (call holding `final`'s lock): a `.X.ready`
    holding a complete run (`complete_run`) is swapped in; else a lone `.X.old` is put back; what is
    left (`.X.old` beside `X`, `.X.partial` of a run that never finished, a `.X.ready` that is not a
    complete run) is removed."""
    final = Path(final)
    old, ready = sibling(final, "old"), sibling(final, "ready")
    if ready.is_dir() and complete_run(ready):
        _swap_in(final)
    elif old.is_dir() and not final.exists():
        os.replace(old, final)
    for leftover in (old, ready, sibling(final, "partial")):
        shutil.rmtree(leftover, ignore_errors=True)


def recover_all(root: str | Path) -> None:
    """`recover` every folder of `root` a crash left mid-swap, skipping those another process is
    writing now, and remove the locks of writers that are gone (`clear_stale_locks`); quiet where the
    folder cannot be written (the next writer recovers it)."""
    root = Path(root)
    clear_stale_locks(root)
    names = {
        p.name[1 : -len(stage) - 1]
        for stage in STAGES
        for p in root.glob(f".*.{stage}")
        if p.name.endswith(f".{stage}")
    }
    for name in sorted(names):
        final = root / name
        try:
            with hold(sibling(final, "lock"), str(final)):
                recover(final)
        except (OutputError, OSError):
            continue


def clear_stale_locks(root: Path) -> None:
    """Remove the locks `hold` left in `root` (`.X.lock`, the holder's pid inside) when their holder was
    killed: the pid no longer runs and nobody holds the lock. Other lock files are left alone."""
    for lock in root.glob(".*.lock"):
        try:
            pid = lock.read_text(errors="replace").strip()
        except OSError:
            continue
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        try:
            with hold(lock, str(lock)):  # free: held a moment, then removed on release
                pass
        except (OutputError, OSError):
            continue


@contextmanager
def claim(final: str | Path, force: bool = False) -> Iterator[Path]:
    """Write the run folder `final`: hold its lock (a second writer is refused), recover a swap a
    crash interrupted, check that it may be replaced (`replace_problem`), and yield a fresh
    `.partial` folder to publish with `publish_dir` while holding it; removed when the work fails."""
    final = Path(final)
    with hold(sibling(final, "lock"), f"--out {final}"):
        recover(final)
        problem = replace_problem(final, force)
        if problem:
            raise OutputError(problem)
        work = partial_dir(final)
        try:
            yield work
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
