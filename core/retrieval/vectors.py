"""Vector indexes with one interface (`add`, `query(vectors, k) -> [[Hit]]`, `get_vectors`), so tests
compare them: `ExactIndex` (brute-force NumPy) and `ChromaIndex` (HNSW in a ChromaDB collection,
through its public API; vectors come from our encoder, never Chroma's). `IndexTarget`: what a
checkpoint's index holds (core.retrieval.index). `SearchIndexError`: an index is missing, stale or
unreachable; the message says what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.common.types import Hit, Tally


@dataclass(frozen=True)
class IndexTarget:
    """What a checkpoint's index holds, built once by whoever asks for the index: the checkpoint (its
    name, its file's fingerprint, the file itself when known) over a corpus (its passages' ids and
    texts, in order, and its fingerprint)."""

    name: str
    fingerprint: str
    path: str | Path | None
    pids: list[str]
    texts: list[str]
    corpus_fingerprint: str


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
        chunk: int | None = None,
    ) -> None:
        """Add in chunks of `chunk` vectors, at most the client's maximum batch size; `progress` as in
        `Encoder.encode_passages`, called after each chunk."""
        step = min(chunk or self.max_batch, self.max_batch)
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
        res = self._get(ids, "embeddings")
        row = {pid: i for i, pid in enumerate(res["ids"])}
        try:
            return np.asarray(res["embeddings"], dtype=np.float32)[[row[i] for i in ids]]
        except (KeyError, ValueError) as e:
            raise SearchIndexError(f"the Chroma index {self.collection.name!r} lacks a passage ({e})") from e

    def _get(self, ids: list[str], what: str) -> dict:
        try:
            return self.collection.get(ids=list(ids), include=[what])
        except Exception as e:
            raise SearchIndexError(
                f"reading {what} from the Chroma index {self.collection.name!r} failed "
                f"({type(e).__name__}: {e}); it is rebuilt when next opened"
            ) from e
