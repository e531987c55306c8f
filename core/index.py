"""Vector indexes and dense search (Pyserini style: `search(query, k) -> [Hit]`, `batch_search`).

`ExactIndex` (brute-force NumPy) and `ChromaIndex` (HNSW in ChromaDB, embedded or a server) share
one interface, so tests compare them. `ensure_index` builds a checkpoint's Chroma collection, or
reuses it when its fingerprints still match; a build goes into a temporary collection that is
renamed only when complete, so a killed build never damages the previous index. An embedded Chroma
folder whose database cannot be read is derived data: `set_aside_if_corrupt` moves it out of the way
so that the indexes are rebuilt.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.artifacts import artifacts_dir
from core.encoder import Encoder
from core.types import Hit, Tally

# ef_search 256: agreement@10 with exact search stays >= 0.99 with the 640-d vectors (128 gave 0.989)
HNSW = {"space": "cosine", "ef_construction": 200, "max_neighbors": 32, "ef_search": 256}


class SearchIndexError(RuntimeError):
    """An index is missing, stale or unreachable; the message says what to do."""


class ExactIndex:
    """Exact cosine search: one matrix product over all (unit) vectors."""

    def __init__(self):
        self.ids: list[str] = []
        self.vectors = np.zeros((0, 0), dtype=np.float32)

    def add(self, ids: list[str], vectors: np.ndarray, texts: list[str] | None = None) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        self.vectors = vectors if not self.ids else np.concatenate([self.vectors, vectors])
        self.ids += list(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def get_vectors(self, ids: list[str]) -> np.ndarray:
        row = {pid: i for i, pid in enumerate(self.ids)}
        return self.vectors[[row[i] for i in ids]]

    def query(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        scores = np.asarray(vectors, dtype=np.float32) @ self.vectors.T  # (Q, N)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        out = []
        for row, cols in zip(scores, top):
            cols = cols[np.argsort(-row[cols], kind="stable")]
            out.append([Hit(self.ids[c], float(row[c])) for c in cols])
        return out


class ChromaIndex:
    """A Chroma collection in cosine space; vectors come from our encoder, never Chroma's."""

    def __init__(self, collection, max_batch: int):
        self.collection, self.max_batch = collection, max_batch  # max_batch: client.get_max_batch_size()

    def add(
        self,
        ids: list[str],
        vectors: np.ndarray,
        texts: list[str] | None = None,
        progress: bool | Tally = False,
    ) -> None:
        """Add in chunks of the client's maximum batch size; `progress` as in `Encoder.encode_passages`."""
        step = self.max_batch
        starts = range(0, len(ids), step)
        if progress is True:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="chroma add", unit="chunk", leave=False)
        for s in starts:
            self.collection.add(
                ids=list(ids[s : s + step]),
                embeddings=np.asarray(vectors[s : s + step]),
                documents=list(texts[s : s + step]) if texts is not None else None,
            )
            if callable(progress):
                progress(min(s + step, len(ids)), len(ids))

    def __len__(self) -> int:
        return self.collection.count()

    def query(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        try:
            res = self.collection.query(
                query_embeddings=np.asarray(vectors, dtype=np.float32),
                n_results=min(k, len(self)),
                include=["distances"],
            )
        except Exception as e:
            raise SearchIndexError(
                f"searching the Chroma index {self.collection.name!r} failed ({type(e).__name__}: {e}); "
                "if it was deleted or its server stopped, restart the app to rebuild or reconnect"
            ) from e
        return [
            [Hit(i, 1.0 - float(d)) for i, d in zip(ids, dists)]
            for ids, dists in zip(res["ids"], res["distances"])
        ]

    def get_vectors(self, ids: list[str]) -> np.ndarray:
        res = self.collection.get(ids=list(ids), include=["embeddings"])
        row = {pid: i for i, pid in enumerate(res["ids"])}
        return np.asarray(res["embeddings"], dtype=np.float32)[[row[i] for i in ids]]

    def texts(self, ids: list[str]) -> dict[str, str]:
        res = self.collection.get(ids=list(ids), include=["documents"])
        return dict(zip(res["ids"], res["documents"]))


class DenseSearcher:
    """Encode queries with the query tower, search an index with the vectors."""

    def __init__(self, encoder: Encoder, index):
        self.encoder, self.index = encoder, index

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.batch_search([query], k)[0]

    def batch_search(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        return self.index.query(self.encoder.encode_queries(queries), k)


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


def _unreadable(db: Path) -> bool:
    """Whether the SQLite file `db` exists and fails SQLite's own quick check (or is not a database)."""
    if not db.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return con.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError:
        return True


def set_aside_if_corrupt(path: str | Path | None = None) -> Path | None:
    """When the embedded Chroma folder's database cannot be read, move the folder to a sibling
    `NAME.corrupt-TIME-XXXX` (for a look, or deletion) and forget the client this process cached for it,
    so the next client starts an empty folder and the indexes are rebuilt. Returns where the folder
    went; None when its database is sound, or when a Chroma server is in use (CHROMA_HOST)."""
    folder = chroma_folder(path)
    if os.environ.get("CHROMA_HOST") or not _unreadable(folder / "chroma.sqlite3"):
        return None
    from chromadb.api.shared_system_client import SharedSystemClient

    aside = Path(
        tempfile.mkdtemp(prefix=f"{folder.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-", dir=folder.parent)
    )
    os.replace(folder, aside)  # onto the empty folder just made: a unique name
    SharedSystemClient._identifier_to_system.pop(str(folder), None)  # Chroma caches one client per path
    return aside


def _names(client) -> list[str]:
    return [c if isinstance(c, str) else c.name for c in client.list_collections()]


def collection_name(name: str, fingerprint: str) -> str:
    """Chroma names allow 3-63 characters of [a-zA-Z0-9._-]."""
    return f"{re.sub(r'[^a-zA-Z0-9_-]', '-', name)[:40]}-{fingerprint}".strip("-_")


def open_index(client, name: str, fingerprint: str, corpus_fingerprint: str, size: int) -> ChromaIndex | None:
    """The complete collection for these fingerprints, or None when it is missing or stale."""
    try:
        col = client.get_collection(collection_name(name, fingerprint), embedding_function=None)
    except Exception:
        return None
    meta = col.metadata or {}
    if meta.get("corpus") != corpus_fingerprint or col.count() != size:
        return None
    return ChromaIndex(col, client.get_max_batch_size())


@dataclass
class IndexBuild:
    index: ChromaIndex
    built: bool  # False: an up-to-date index was reused
    vectors: np.ndarray | None = None  # the passage vectors, when they were just encoded
    seconds: dict = field(default_factory=dict)

    def passage_vectors(self, pids: list[str]) -> np.ndarray:
        """Every passage's vector in `pids` order: those just encoded, else read back from the index."""
        return self.vectors if self.built else self.index.get_vectors(pids)

    @property
    def passages_per_s(self) -> float:
        return round(len(self.vectors) / max(self.seconds["encode"], 1e-9), 1) if self.built else 0.0


def ensure_index(
    client,
    encoder: Encoder,
    name: str,
    fingerprint: str,
    pids: list[str],
    texts: list[str],
    corpus_fingerprint: str,
    force: bool = False,
    progress: bool | Tally = False,
    vectors: np.ndarray | None = None,
) -> IndexBuild:
    """Open the checkpoint's index, or (re)build it when missing, stale or forced. `progress` is True
    for tqdm bars, or a callable given (done, total) over encoding and then adding the passages.
    `vectors`: the passages' vectors when they are already encoded (only added, then)."""
    if not force:
        idx = open_index(client, name, fingerprint, corpus_fingerprint, len(pids))
        if idx is not None:
            return IndexBuild(idx, built=False)
    try:
        return _build_index(
            client, encoder, name, fingerprint, pids, texts, corpus_fingerprint, progress, vectors
        )
    except SearchIndexError:
        raise
    except Exception as e:  # a full disk, a read-only folder, a server that went away, a locked database
        raise SearchIndexError(
            f"building the Chroma index for {name!r} failed ({type(e).__name__}: {e}); the previous "
            "index, if any, is untouched. Check that the Chroma folder is writable and has free space "
            "(or that the Chroma server is up), then run `python -m core build` again"
        ) from e


def _build_index(
    client, encoder, name, fingerprint, pids, texts, corpus_fingerprint, progress, vectors=None
) -> IndexBuild:
    final, tmp = collection_name(name, fingerprint), collection_name(name, fingerprint) + ".building"
    if tmp in _names(client):  # a build of this checkpoint that was killed
        client.delete_collection(tmp)
    n = len(pids)
    encode_progress = (lambda done, total: progress(done, 2 * n)) if callable(progress) else progress
    add_progress = (lambda done, total: progress(n + done, 2 * n)) if callable(progress) else progress
    t0 = time.time()
    if vectors is None:
        vectors = encoder.encode_passages(texts, progress=encode_progress)
    else:  # nothing to encode: adding is all the work
        add_progress = progress
    t1 = time.time()
    col = client.create_collection(
        tmp,
        configuration={"hnsw": HNSW},
        embedding_function=None,
        metadata={"corpus": corpus_fingerprint, "checkpoint": fingerprint, "name": name},
    )
    idx = ChromaIndex(col, client.get_max_batch_size())
    idx.add(pids, vectors, texts, progress=add_progress)
    for old in _names(client):  # only now: the index this one replaces, older ones of this name
        if old != tmp and (old == final or (client.get_collection(old).metadata or {}).get("name") == name):
            client.delete_collection(old)
    col.modify(name=final)
    return IndexBuild(idx, True, vectors, {"encode": round(t1 - t0, 2), "add": round(time.time() - t1, 2)})
