"""Vector indexes with one interface (`add`, `query(vectors, k) -> [[Hit]]`), so tests compare them:
`ExactIndex` (the whole vectors, brute force) and `ChromaIndex` (HNSW over the dense parts'
directions in a ChromaDB collection, through its public API; vectors come from our encoder, never
Chroma's). `IndexTarget`: what a checkpoint's index holds (core.retrieval.index). `SearchIndexError`:
an index is missing, stale or unreachable; the message says what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.common.types import Hit, Tally
from core.model.encoded import Encoded


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
    """Exact search: the whole vectors' dot products (`Encoded.scores`) with every passage."""

    def __init__(self):
        self.ids: list[str] = []
        self.vectors: Encoded | None = None

    def add(self, ids: list[str], vectors: Encoded) -> None:
        self.vectors = vectors if self.vectors is None else Encoded.stack([self.vectors, vectors])
        self.ids += list(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def get_vectors(self, ids: list[str]) -> Encoded:
        row = {pid: i for i, pid in enumerate(self.ids)}
        return self.vectors[[row[i] for i in ids]]

    def query(self, vectors: Encoded, k: int) -> list[list[Hit]]:
        scores = vectors.scores(self.vectors)  # (Q, N)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        out = []
        for row, cols in zip(scores, top):
            cols = cols[np.argsort(-row[cols], kind="stable")]
            out.append([Hit(self.ids[c], float(row[c])) for c in cols])
        return out


class ChromaIndex:
    """A Chroma collection in cosine space of the vectors' dense parts (`Encoded.directions`), which
    come from our encoder, never Chroma's; its scores are the dense parts' cosines. It holds no texts
    (the catalog does): adds run 1.6 times as fast without them."""

    def __init__(self, collection, max_batch: int):
        self.collection, self.max_batch = collection, max_batch  # max_batch: client.get_max_batch_size()

    def add(
        self,
        ids: list[str],
        vectors: Encoded,
        progress: bool | Tally = False,
        chunk: int | None = None,
    ) -> None:
        """Add in chunks of `chunk` vectors, at most the client's maximum batch size; `progress` as in
        `Encoder.encode_passages`, called after each chunk."""
        step, directions = min(chunk or self.max_batch, self.max_batch), vectors.directions()
        starts = range(0, len(ids), step)
        if progress is True:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="chroma add", unit="chunk", leave=False)
        for s in starts:
            self.collection.add(
                ids=list(ids[s : s + step]),
                embeddings=directions[s : s + step],
            )
            if callable(progress):
                progress(min(s + step, len(ids)), len(ids))

    def __len__(self) -> int:
        return self.collection.count()

    def query(self, vectors: Encoded, k: int) -> list[list[Hit]]:
        try:
            res = self.collection.query(
                query_embeddings=vectors.directions(),
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
