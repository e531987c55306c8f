"""The dense ranker: one checkpoint (or an untrained `Encoder`, e.g. the GloVe average), cosine
scores of its query and passage vectors (`Encoded`: the dense part and the lexical part over words).

Fitting encodes every passage (or reads the vectors stored beside the checkpoint), so exact search
answers at once. With a Chroma folder (`chroma_path`: the app and the benchmark) the ranker holds the
checkpoint's index of the dense parts (`core.retrieval.live_index`), built from those vectors (in the
`background` in the app) and searched once ready: a search's candidates are Chroma's best dense parts
and the lexical part's best passages (its inverted index), scored exactly with the whole vectors. A
passage whose exact rank is within the top k but which neither found is kept as a hit marked `missed`.
Without a Chroma folder (evaluation, training-time validation) every search is exact.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.common.types import Progress, pace
from core.model.encoded import Encoded
from core.model.encoder import Checkpoint, Encoder
from core.model.new_words import with_words
from core.model.passages import load_vectors
from core.retrieval.catalog import Catalog, Passages
from core.retrieval.explain import Explanation, split_parts
from core.retrieval.live_index import Foreground, LiveIndex, Unhurried
from core.retrieval.queries import QueryToken, query_tokens, validate_query
from core.retrieval.ranker import Hits, Ranker, exact_top, with_missed
from core.retrieval.vectors import IndexTarget

QUERY_CACHE = 256  # query vectors kept: a page searches, then scores every passage, with one encoding
# passages each index offers a search, at least; the union is scored exactly. Validation queries whose top
# 10 is exact search's, hard: 98.1% at 50, 99.96% at 100, 100% at 200
CANDIDATES = 100
MISSED_CHECK = 100_000  # passages up to which a search also scores every passage, to mark what it missed


class DenseRanker(Ranker):
    """A dense ranker. `DenseRanker(name, checkpoint, catalog, ...)` fits it on `catalog` at once (the app's
    engines); without a catalog it is fitted later (`fit`, e.g. by `IREvaluator`)."""

    unit = "cos"

    def __init__(
        self,
        name: str,
        checkpoint: Checkpoint | Encoder | str | Path,
        catalog: Passages | None = None,
        chroma_path: str | Path | None = None,
        progress: Progress | bool = False,
        background: bool = False,
        foreground: Foreground | None = None,
    ):
        self.name, self.chroma_path, self.progress, self.background = name, chroma_path, progress, background
        self.foreground = foreground or Unhurried()
        if isinstance(checkpoint, Encoder):
            self.checkpoint, self.encoder, self.fingerprint = None, checkpoint, None
        else:
            if not isinstance(checkpoint, Checkpoint):
                checkpoint = Checkpoint(name, checkpoint)
            self.checkpoint, self.encoder = checkpoint, checkpoint.encoder
            self.fingerprint, self.val_fraction = checkpoint.fingerprint, checkpoint.val_fraction
        self.vocab = self.encoder.vocab
        self.live: LiveIndex | None = None  # the Chroma index, with a Chroma folder
        if catalog is not None:
            self.fit(catalog)

    @property
    def version(self) -> str:
        return self.fingerprint or self.name

    def _fit(self, passages: Passages) -> None:
        self.catalog, self.live = passages, None
        if self.checkpoint is not None:  # a corpus it was not trained on: its words are added
            own = self.checkpoint.encoder
            self.encoder = with_words(own, passages.tokens) if passages.new_words else own
            self.vocab = self.encoder.vocab
        self.encode_query = lru_cache(QUERY_CACHE)(self._encode_query)  # for this fit's encoder
        self.vectors = vectors = self._stored_or_encoded(passages)
        if self._indexed(passages):
            target = IndexTarget(
                self.name,
                self.fingerprint,
                self.checkpoint.path,
                passages.pids,
                passages.texts,
                passages.fingerprint,
            )
            self.live = LiveIndex(
                self.chroma_path, self.encoder, target, vectors, self.background, self.foreground
            )
        if isinstance(passages, Catalog):
            self.search("warm up")  # torch's (and Chroma's) one-off set-up is not the first query's
        if callable(self.progress):
            self.progress(1.0, f"The {self.name} model is ready")

    def _indexed(self, passages: Passages) -> bool:
        """Whether searches over `passages` use a Chroma index: with a Chroma folder, a checkpoint file
        (the index is named after it) and a corpus with a fingerprint."""
        return self.chroma_path is not None and self.checkpoint is not None and isinstance(passages, Catalog)

    @property
    def index_state(self) -> str:
        """'ready' (searches use the Chroma index), 'is being built (45%)', or why building it failed,
        'could not be built (…)' (exact search answers meanwhile); 'exact only' without a Chroma folder."""
        return self.live.state if self.live is not None else "exact only"

    def _stored_or_encoded(self, passages: Passages) -> Encoded:
        """Every passage's vector: the ones stored beside the checkpoint when they match, else encoded
        now (`progress` moves with every batch)."""
        if self.checkpoint is not None and isinstance(passages, Catalog):
            stored = load_vectors(
                self.checkpoint, passages.vector_key, passages.texts, passages.folder, self.encoder
            )
            if stored is not None:  # beside the checkpoint (core.model.passages): read, not encoded
                return stored
        progress, started = self.progress, time.perf_counter()

        def report(done: int, total: int) -> None:
            progress(
                done / total,
                f"Encoding {total:,} passages with the {self.name} model: {done:,} done ({done / total:.0%}, "
                f"{pace(done, total, time.perf_counter() - started)})",
            )

        with self.foreground.working():
            return self.encoder.encode_passages(
                passages.texts, progress=report if callable(progress) else progress
            )

    def search(self, query: str, k: int = 10) -> Hits:
        """The top k of the index's candidates (`candidates`), with any passage they missed within the
        exact top k marked (up to `MISSED_CHECK` passages), or exact search over every passage while
        the index is not ready; `path` says which."""
        query = validate_query(query, self.vocab)
        vector = self.encode_query(query)
        found, notice = self.candidates(vector, k)
        if found is not None and len(self.catalog) > MISSED_CHECK:
            return self.hits([(r, s, False) for r, s in found], "chroma", notice)
        scores = self._cosines(vector)[0]
        if found is None:
            return self.hits(exact_top(scores, k), "exact", notice)
        return self.hits(with_missed(found, scores, k), "chroma", notice)

    def candidates(self, vector: Encoded, k: int) -> tuple[list[tuple[int, float]] | None, str | None]:
        """(the best k (row, score) of the passages Chroma and the inverted index offer for one query
        vector (`rescored_top`), a notice), or (None, None) while Chroma is not ready."""
        found, notice = self.live.query(vector, max(k, CANDIDATES)) if self.live is not None else (None, None)
        if found is None:
            return None, None
        return rescored_top(vector, self.vectors, [self.catalog.row[h.docid] for h in found], k), notice

    def _encode_query(self, query: str) -> Encoded:
        """One query's unit vector (kept by `encode_query`, the cached form)."""
        with self.foreground.working():
            return self.encoder.encode_queries([query])

    def _cosines(self, query_vectors: Encoded) -> np.ndarray:
        """(Q, N) cosines of unit query vectors with every passage's."""
        return query_vectors.scores(self.vectors)

    def scores(self, queries: list[str]) -> np.ndarray:
        if len(queries) == 1:
            return self._cosines(self.encode_query(queries[0]))
        with self.foreground.working():
            return self._cosines(self.encoder.encode_queries(queries))

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """Cosine = meaning (the dense parts' product) + shared words (the learned weights of the words
        query and passage share), from the model's own parts (`Encoder.explain`)."""
        with self.foreground.working():
            cosines = self.encode_query(query).scores(self.vectors[rows])[0]
            splits = self.encoder.explain(query, [self.catalog.texts[r] for r in rows])
        return [Explanation(float(c), self.unit, split_parts(s)) for c, s in zip(cosines, splits)]

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return query_tokens(self.vocab, query, self.encoder.query_len)


def rescored_top(vector: Encoded, vectors: Encoded, dense_rows: list[int], k: int) -> list[tuple[int, float]]:
    """The best k (row, score) of one query's candidates, scored exactly with the whole vectors: the
    rows a dense index found (`dense_rows`, by the dense part) and the inverted index's best
    `CANDIDATES` by the words they share; ties in corpus order, as exact search. A passage neither
    finds can still belong in the exact top k (a middling dense part and a middling lexical one);
    `rescored_top` misses it then."""
    words = exact_top(vector.lexical_scores(vectors)[0], max(k, CANDIDATES), floor=0.0)
    rows = np.fromiter({*dense_rows, *(r for r, _, _ in words)}, dtype=np.int64)
    scores = vector.scores(vectors[rows])[0]
    best = np.lexsort((rows, -scores))[:k]
    return [(int(rows[i]), float(scores[i])) for i in best]
