"""A checkpoint's Chroma index (a `ChromaIndex`, core.retrieval.vectors), embedded or a server.

`ensure_index` builds a checkpoint's Chroma collection, or reuses it when its fingerprints still
match; a build goes into a temporary collection that is renamed only when complete, so a killed
build never damages the previous index. A collection is named after its checkpoint file's
fingerprint (never a folder name), and one process builds it while the others wait (a file lock per
collection). A collection that does not answer (damaged HNSW files, a deleted segment folder) is
rebuilt; an embedded Chroma folder whose database cannot be read is derived data:
`set_aside_if_corrupt` moves it out of the way so that the indexes are rebuilt. A full disk is told
apart from damage: it is reported, and the folder kept.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.common.artifacts import artifacts_dir
from core.common.outputs import hold
from core.common.types import Tally
from core.retrieval.probe import answers, answers_apart
from core.retrieval.segments import disk_full, remove_orphans, unreadable
from core.retrieval.vectors import ChromaIndex, IndexTarget, SearchIndexError

if TYPE_CHECKING:  # named in annotations only: a process that only opens indexes never loads torch
    from core.model.encoded import Encoded
    from core.model.encoder import Encoder

# ef_search 256: agreement@10 with exact search stayed >= 0.99 (128 gave 0.989), measured on 640-d vectors
HNSW = {"space": "cosine", "ef_construction": 200, "max_neighbors": 32, "ef_search": 256}


_checked: set[str] = set()  # embedded Chroma folders whose database this process has checked
_OPENING = threading.RLock()  # one embedded client made at a time (two index builds start together)


def chroma_client(path: str | Path | None = None, host: str | None = None, port: int | None = None):
    """An HTTP client when a host is given (or CHROMA_HOST is set), else an embedded persistent one."""
    import chromadb
    from chromadb.config import Settings

    host = host or os.environ.get("CHROMA_HOST")
    settings = Settings(anonymized_telemetry=False)
    if host:
        port = int(port or os.environ.get("CHROMA_PORT", 8000))
        try:
            client = chromadb.HttpClient(host=host, port=port, settings=settings)
            client.heartbeat()
        except Exception as e:
            raise SearchIndexError(
                f"no Chroma server answers at {host}:{port} ({e}); start one with "
                f"`chroma run --path artifacts/chroma-server --port {port}` or unset CHROMA_HOST"
            ) from e
        return client
    path = chroma_folder(path)
    try:
        # Chroma's shared client system is not safe to create from two threads at once, and two
        # processes opening a new folder at once both migrate its database ("database is locked")
        with (
            _OPENING,
            hold(_lock_path(str(path.resolve()), "@client"), f"the Chroma folder {path}", wait=True),
        ):
            if str(path.resolve()) not in _checked:  # once per process: a damaged database is set aside
                set_aside_if_corrupt(path)
                remove_orphans(path)
                _checked.add(str(path.resolve()))
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as e:
        raise SearchIndexError(
            f"the Chroma folder {path} cannot be opened ({type(e).__name__}: {e}); check that it is "
            "writable and its disk has free space, or delete the folder to rebuild the indexes"
        ) from e


def chroma_folder(path: str | Path | None = None) -> Path:
    """The embedded Chroma folder: `path`, else `artifacts/chroma`."""
    return Path(path or artifacts_dir() / "chroma")


def full_disk_error(folder: Path) -> SearchIndexError:
    return SearchIndexError(
        f"the disk holding {folder} is full: free some space (or point ARTIFACTS_DIR elsewhere), then "
        "try again. The indexes there are intact and were kept."
    )


def set_aside_if_corrupt(path: str | Path | None = None) -> Path | None:
    """When the embedded Chroma folder's database cannot be read, move the folder to a sibling
    `NAME.corrupt-TIME-XXXX` (for a look, or deletion) and forget the clients this process cached,
    so the next client starts an empty folder and the indexes are rebuilt. Returns where the folder
    went; None when its database is sound, or when a Chroma server is in use (CHROMA_HOST). On a full
    disk nothing is moved: a `SearchIndexError` says so."""
    folder = chroma_folder(path)
    if os.environ.get("CHROMA_HOST") or not unreadable(folder / "chroma.sqlite3"):
        return None
    if disk_full(folder):
        raise full_disk_error(folder)
    from chromadb.api.client import Client

    aside = Path(
        tempfile.mkdtemp(prefix=f"{folder.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-", dir=folder.parent)
    )
    os.replace(folder, aside)  # onto the empty folder just made: a unique name
    Client.clear_system_cache()  # Chroma keeps one system per path; the next client opens afresh
    return aside


def _names(client) -> list[str]:
    return [c if isinstance(c, str) else c.name for c in client.list_collections()]


def collection_name(fingerprint: str, corpus_fingerprint: str) -> str:
    """A checkpoint's collection over one corpus: named by its file's and the corpus's fingerprints, so
    two files never share one unless they are the same model, and no folder name decides whose it is."""
    return f"checkpoint-{fingerprint}-{corpus_fingerprint}"


def _answers(client, collection: str, size: int) -> bool:
    """Whether the collection answers (`probe.answers`): in an embedded Chroma folder checked in a
    child process (`probe.answers_apart`: damaged HNSW files can crash Chroma's bindings); a server's
    collection here (a crash there is the server's, not this process's)."""
    s = client.get_settings()
    if s.is_persistent:
        folder = str(Path(s.persist_directory).resolve())
        return answers_apart(folder, collection, size, _lock_path(folder, "@client"))
    try:
        return answers(client.get_collection(collection, embedding_function=None), size)
    except Exception:
        return False


def open_index(client, fingerprint: str, corpus_fingerprint: str, size: int) -> ChromaIndex | None:
    """The complete collection for these fingerprints, or None when it is missing, stale or damaged."""
    try:
        col = client.get_collection(collection_name(fingerprint, corpus_fingerprint), embedding_function=None)
    except Exception:
        return None
    name = collection_name(fingerprint, corpus_fingerprint)
    if (col.metadata or {}).get("corpus") != corpus_fingerprint or not _answers(client, name, size):
        return None
    return ChromaIndex(col, client.get_max_batch_size())


def _lock_file(client, collection: str) -> Path:
    """The file lock of one collection of one Chroma folder or server, shared by every process."""
    s = client.get_settings()
    where = (
        str(Path(s.persist_directory).resolve())
        if s.is_persistent
        else f"{s.chroma_server_host}:{s.chroma_server_http_port}"
    )
    return _lock_path(where, collection)


def _lock_path(where: str, name: str) -> Path:
    """A lock file for `name` (a collection, or "@client", which no collection can be named) of the
    Chroma folder or server `where`, in the temporary folder (so that a read-only artifacts folder can
    still be searched), shared by every process."""
    key = hashlib.sha1(where.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "two-tower-index-locks" / f".{key}-{name}.lock"


@dataclass
class IndexBuild:
    index: ChromaIndex
    built: bool  # False: an up-to-date index was reused
    vectors: Encoded | None = None  # the passage vectors, when they were just encoded
    seconds: dict = field(default_factory=dict)

    @property
    def added_per_s(self) -> float:
        """Vectors added to Chroma per second (0 when an up-to-date index was reused)."""
        return round(len(self.index) / max(self.seconds["add"], 1e-9), 1) if self.built else 0.0


def ensure_index(
    client,
    encoder: Encoder,
    target: IndexTarget,
    force: bool = False,
    progress: bool | Tally = False,
    vectors: Encoded | None = None,
    chunk: int | None = None,
) -> IndexBuild:
    """Open the index of `target` (a checkpoint over a corpus), or (re)build it when missing, stale,
    damaged or forced; one process builds it while the others wait and then open it. When the
    target names its checkpoint file (`path`), an older index of that same file is removed once this
    one is complete (never another file's).
    `progress` is True for tqdm bars, or a callable given (done, total) over encoding and then adding
    the passages. `vectors`: the passages' vectors when they are already encoded (only added, then);
    `chunk`: how many vectors each add to Chroma takes at most (a background build pauses between)."""
    t = target
    if not force:
        idx = open_index(client, t.fingerprint, t.corpus_fingerprint, len(t.pids))
        if idx is not None:
            return IndexBuild(idx, built=False)
    try:
        with hold(
            _lock_file(client, collection_name(t.fingerprint, t.corpus_fingerprint)),
            f"the index of {t.name}",
            wait=True,
        ):
            idx = None if force else open_index(client, t.fingerprint, t.corpus_fingerprint, len(t.pids))
            if idx is not None:  # another process built it while this one waited
                return IndexBuild(idx, built=False)
            return _build_index(client, encoder, t, progress, vectors, chunk)
    except SearchIndexError:
        raise
    except Exception as e:  # a full disk, a read-only folder, a server that went away, a locked database
        folder = Path(client.get_settings().persist_directory or ".")
        if client.get_settings().is_persistent and disk_full(folder, e):
            raise full_disk_error(folder) from e
        raise SearchIndexError(
            f"building the Chroma index for {t.name!r} failed ({type(e).__name__}: {e}); the previous "
            "index, if any, is untouched. Check that the Chroma folder is writable and has free space "
            "(or that the Chroma server is up), then run `python -m core build` again"
        ) from e


def _build_index(client, encoder, target: IndexTarget, progress, vectors=None, chunk=None) -> IndexBuild:
    """Build the index into `NAME.building`, renamed once complete. A build that was killed is resumed:
    the passages its collection already holds are neither encoded nor added again."""
    name, fingerprint, path = target.name, target.fingerprint, target.path
    pids, texts, corpus_fingerprint = target.pids, target.texts, target.corpus_fingerprint
    final = collection_name(fingerprint, corpus_fingerprint)
    tmp = final + ".building"
    owner = str(Path(path).resolve()) if path else ""
    col, held = _resumed(client, tmp)
    todo = [i for i, pid in enumerate(pids) if pid not in held] if held else list(range(len(pids)))
    n, start = len(pids), len(pids) - len(todo)
    encode_progress = (lambda done, total: progress(start + done, 2 * n)) if callable(progress) else progress
    add_progress = (lambda done, total: progress(n + start + done, 2 * n)) if callable(progress) else progress
    t0 = time.time()
    if vectors is None:
        vectors = encoder.encode_passages([texts[i] for i in todo], progress=encode_progress)
        made = vectors if not held else None  # only some passages encoded: none to hand on
    else:  # nothing to encode: adding is all the work
        made = vectors
        vectors = vectors[todo] if held else vectors
        add_progress = (lambda done, total: progress(start + done, n)) if callable(progress) else progress
    t1 = time.time()
    if col is None:
        col = client.create_collection(
            tmp,
            configuration={"hnsw": HNSW},
            embedding_function=None,
            metadata={"corpus": corpus_fingerprint, "checkpoint": fingerprint, "name": name, "path": owner},
        )
    idx = ChromaIndex(col, client.get_max_batch_size())
    idx.add([pids[i] for i in todo], vectors, progress=add_progress, chunk=chunk)
    for old in _names(client):  # only now: the index this one replaces, older ones of the same file
        if old != tmp and (old == final or (owner and _owner(client, old) == (owner, corpus_fingerprint))):
            client.delete_collection(old)
    if client.get_settings().is_persistent:  # Chroma leaves the deleted collections' folders
        remove_orphans(client.get_settings().persist_directory)
    col.modify(name=final)
    return IndexBuild(idx, True, made, {"encode": round(t1 - t0, 2), "add": round(time.time() - t1, 2)})


def _resumed(client, building: str) -> tuple[object | None, set[str]]:
    """(the collection a killed build left, the passage ids it holds), or (None, empty) when there is
    none, or it cannot be read (then it is deleted: built again from the start)."""
    if building not in _names(client):
        return None, set()
    try:
        col = client.get_collection(building, embedding_function=None)
        return col, set(col.get(include=[])["ids"])
    except Exception:
        client.delete_collection(building)
        return None, set()


def _owner(client, collection: str) -> tuple[str, str] | None:
    """(the checkpoint file a collection was built from, the corpus it holds); None when unreadable."""
    try:
        meta = client.get_collection(collection).metadata or {}
    except Exception:
        return None
    return meta.get("path"), meta.get("corpus")
