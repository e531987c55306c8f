"""Searchers: a query string in, a `SearchResult` out, the same `search` for every kind.

`Ranked` is what they share: `scores(texts)`, the exact score of every passage, from which the rank
of any passage (the judged one included) follows over the whole corpus, not only within the top k.
`Engine` is one checkpoint with its Chroma index (built on first use, with progress reported; an
index found unreadable while opening or searching is rebuilt, and the result carries a notice);
`Lexical` is BM25; `Hybrid` fuses a checkpoint with BM25. Chroma's hits are approximate: a passage
whose exact rank is within the top k but which the index missed is kept as a hit marked `missed`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.bm25 import BM25, bm25_tokens
from core.catalog import Catalog
from core.config import DataConfig
from core.encoder import Checkpoint
from core.hybrid import PREFIX, fuse
from core.index import IndexBuild, SearchIndexError, chroma_client, ensure_index, set_aside_if_corrupt
from core.metrics import judged_rank, rank_of
from core.queries import QueryToken, query_tokens, validate_query
from core.types import Progress
from core.vocab import Vocab


@dataclass(frozen=True)
class ResultHit:
    rank: int  # 1-based, over the whole corpus
    pid: str
    score: float  # cosine similarity (BM25 score for the lexical engine)
    text: str
    judged: bool  # a passage MS MARCO judged relevant to this (dataset) query
    missed: bool = False  # exact search ranks it within the top k, the approximate index did not return it


@dataclass
class SearchResult:
    model: str
    query: str
    hits: list[ResultHit]
    encode_ms: float
    search_ms: float
    tokens: list[QueryToken]
    dropped_tokens: int  # tokens past the model's query length, never seen
    query_id: str | None  # the dataset query the text matches, if any
    judged: ResultHit | None  # the best-ranked judged passage, wherever it ranks
    scores: np.ndarray = field(repr=False)  # every passage's score, in corpus order
    notice: str | None = None  # the index failed during this search and was rebuilt

    def rank_of(self, pid: str, row: int) -> int:
        """Rank of a passage over the whole corpus: its place in the top k, else from the scores, a
        tie counting against it as in `core.metrics.judged_rank`."""
        for h in self.hits:
            if h.pid == pid:
                return h.rank
        return rank_of(self.scores, row)


def _result(
    catalog: Catalog,
    model: str,
    query: str,
    top: list[tuple[int, float, bool]],
    scores: np.ndarray,
    encode_ms: float,
    search_ms: float,
    tokens: list[QueryToken],
    dropped: int,
    floor: float | None = None,
) -> SearchResult:
    """Assemble a `SearchResult` from top-k (row, score, missed) triples, in rank order, and the scores
    of every passage. Passages scoring at or below `floor` count as not retrieved (BM25: no query word)."""
    qid, judged_rows = catalog.judged_rows(query)
    judged_set = set(judged_rows)
    hits = [
        ResultHit(i, catalog.pids[r], s, catalog.display_text(r), r in judged_set, missed)
        for i, (r, s, missed) in enumerate(top, 1)
    ]
    result = SearchResult(model, query, hits, encode_ms, search_ms, tokens, dropped, qid, None, scores)
    reachable = [r for r in judged_rows if floor is None or scores[r] > floor]
    if reachable:
        best = max(reachable, key=lambda r: scores[r])
        pid = catalog.pids[best]
        result.judged = ResultHit(
            result.rank_of(pid, best), pid, float(scores[best]), catalog.display_text(best), True
        )
    return result


def exact_top(scores: np.ndarray, k: int, floor: float | None = None) -> list[tuple[int, float, bool]]:
    """The top-k (row, score, missed=False) of one query's exact scores, ties in corpus order;
    rows scoring at or below `floor` are left out. Only the passages scoring at least the k-th best
    score are sorted (every search runs this over the whole corpus)."""
    rows = np.arange(len(scores))
    if 0 < k < len(scores):
        kth_best = np.partition(scores, len(scores) - k)[len(scores) - k]
        rows = np.flatnonzero(scores >= kth_best)  # ties at the cut included, in corpus order
    rows = rows[np.argsort(-scores[rows], kind="stable")][:k]
    return [(int(r), float(scores[r]), False) for r in rows if floor is None or scores[r] > floor]


def with_missed(
    approximate: list[tuple[int, float]], scores: np.ndarray, k: int
) -> list[tuple[int, float, bool]]:
    """An approximate index's top k (row, score), in its order, with each passage the exact scores
    rank within the top k but the index did not return inserted where exact search puts it, marked
    missed: the page shows it rather than a rank with no passage."""
    found = {r for r, _ in approximate}
    top = [(r, s, False) for r, s in approximate]
    for place, (row, score, _) in enumerate(exact_top(scores, k)):
        if row not in found:
            top.insert(min(place, len(top)), (row, score, True))
    return top


class Ranked:
    """What every searcher shares: `scores(texts) -> (Q, passages)` gives the exact score of every
    passage, from which the judged passages' ranks of dataset queries follow."""

    name: str
    catalog: Catalog
    val_fraction: float = DataConfig.val_fraction
    vocab: Vocab | None = None  # the words the model knows; None: every word counts (BM25)

    def scores(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def query_scores(self, query_ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(score of each dataset query with every passage, which passages are judged), (Q, passages)."""
        queries = self.catalog.corpus.queries.set_index("query_id").text
        scores = np.ascontiguousarray(self.scores([queries[q] for q in query_ids]), dtype=np.float32)
        return torch.from_numpy(scores), torch.from_numpy(self.catalog.corpus.relevance(query_ids))

    def judged_ranks(self, query_ids: list[str]) -> np.ndarray:
        """Rank of each dataset query's best judged passage over the whole corpus (exact scores)."""
        return judged_rank(*self.query_scores(query_ids)).numpy()

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        """(the tokens this ranker sees in `query`, unknown ones marked; tokens past its length limit)."""
        raise NotImplementedError


class Engine(Ranked):
    """One checkpoint, ready to search."""

    def __init__(
        self,
        name: str,
        checkpoint: Checkpoint | str | Path,
        catalog: Catalog,
        chroma_path: str | Path | None = None,
        progress: Progress | None = None,
    ):
        self.name, self.catalog = name, catalog
        self.checkpoint = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(name, checkpoint)
        self.encoder, self.fingerprint = self.checkpoint.encoder, self.checkpoint.fingerprint
        self.vocab = self.encoder.vocab
        self.val_fraction = self.checkpoint.val_fraction

        def report(done: int, total: int) -> None:  # encoding, then adding, every passage
            progress(
                0.95 * done / total,
                f"Indexing {len(catalog):,} passages with the {name} model (encode, "
                f"then store in Chroma): {done / total:.0%}",
            )

        self.chroma_path, self._repairing = chroma_path, threading.Lock()
        made, self.notice = self._open_index(report if progress else False)  # notice: it was repaired
        self.index = made.index
        self.vectors = made.passage_vectors(catalog.pids)
        self.search("warm up")  # torch's and Chroma's one-off set-up is not the first query's
        if progress:
            progress(1.0, f"The {name} model is ready")

    def _open_index(self, progress, failed: bool = False) -> tuple[IndexBuild, str | None]:
        """(this checkpoint's index, opened or built; a notice when it had to be repaired). After a
        failed search (`failed`) it is reopened, rebuilt only when it does not answer (another process
        may have rebuilt it meanwhile). A Chroma folder whose database cannot be read is set aside and
        the index rebuilt in a fresh one."""

        def made(force: bool) -> IndexBuild:
            return ensure_index(
                chroma_client(self.chroma_path),
                self.encoder,
                self.name,
                self.fingerprint,
                self.catalog.pids,
                self.catalog.texts,
                self.catalog.fingerprint,
                force=force,
                progress=progress,
                path=self.checkpoint.path,
            )

        try:
            index = made(False)
            return (
                index,
                f"The {self.name} index failed, so it was rebuilt." if failed and index.built else None,
            )
        except SearchIndexError:
            aside = set_aside_if_corrupt(self.chroma_path)
            if aside is None:
                raise
        return made(True), (
            f"The search index folder could not be read, so it was set aside as {aside} and "
            f"the {self.name} index was rebuilt from the checkpoint."
        )

    def _query(self, vec: np.ndarray, k: int):
        """(top-k hits, None); when the index fails, it is repaired once (by one thread; the others wait
        for it) and searched again: (hits, the notice)."""
        index = self.index
        try:
            return index.query(vec, k)[0], None
        except SearchIndexError:
            with self._repairing:
                if self.index is index:
                    made, self.notice = self._open_index(False, failed=True)
                    self.index = made.index
            return self.index.query(vec, k)[0], self.notice

    def search(self, query: str, k: int = 10) -> SearchResult:
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        vec = self.encoder.encode_queries([query])
        t1 = time.perf_counter()
        hits, notice = self._query(vec, k)
        scores = self.vectors @ vec[0]
        t2 = time.perf_counter()
        tokens, dropped = self.tokens(query)
        top = with_missed([(self.catalog.row[h.docid], h.score) for h in hits], scores, k)
        result = _result(
            self.catalog, self.name, query, top, scores, (t1 - t0) * 1e3, (t2 - t1) * 1e3, tokens, dropped
        )
        result.notice = notice
        return result

    def encode_query(self, query: str) -> np.ndarray:
        """One query's unit vector."""
        return self.encoder.encode_queries([query])[0]

    def scores(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_queries(texts) @ self.vectors.T

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return query_tokens(self.vocab, query, self.encoder.query_len)


class Lexical(Ranked):
    """BM25 over the same corpus, with the same `search` as an `Engine`."""

    name = "bm25"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.bm25 = BM25().fit(catalog.texts, catalog.pids)

    def scores(self, texts: list[str]) -> np.ndarray:
        return self.bm25.scores(texts)

    def search(self, query: str, k: int = 10) -> SearchResult:
        query = validate_query(query)
        t0 = time.perf_counter()
        scores = self.bm25.scores([query])[0]
        top = exact_top(scores, k, floor=0.0)
        t1 = time.perf_counter()
        return _result(
            self.catalog, self.name, query, top, scores, 0.0, (t1 - t0) * 1e3, *self.tokens(query), floor=0.0
        )

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return [QueryToken(t, True) for t in bm25_tokens(query)], 0


class Hybrid(Ranked):
    """A checkpoint fused with BM25 (`core.hybrid.fuse`, the checkpoint's fitted weight), searched
    exactly over every passage, with the same `search` as an `Engine`."""

    def __init__(self, engine: Engine, lexical: Lexical, weight: float):
        self.engine, self.lexical, self.weight = engine, lexical, weight
        self.name, self.catalog, self.vocab = PREFIX + engine.name, engine.catalog, engine.vocab
        self.val_fraction = engine.val_fraction

    def scores(self, texts: list[str]) -> np.ndarray:
        return fuse(self.engine.scores(texts), self.lexical.scores(texts), self.weight)

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return self.engine.tokens(query)

    def search(self, query: str, k: int = 10) -> SearchResult:
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        scores = self.scores([query])[0]
        top = exact_top(scores, k)
        t1 = time.perf_counter()
        return _result(self.catalog, self.name, query, top, scores, 0.0, (t1 - t0) * 1e3, *self.tokens(query))
