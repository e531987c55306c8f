"""Searchers: a query string in, a `SearchResult` out, the same `search` for every kind.

`Ranked` is what they share: `scores(texts)`, the exact score of every passage, from which the rank
of any passage (the judged one included) follows over the whole corpus, not only within the top k.
`Engine` is one checkpoint with its Chroma index (built on first use from the passages it has just
encoded, on a background thread in the app, exact search answering until it is complete; an index
found unreadable while opening or searching is rebuilt, and the result carries a notice); `Lexical`
is BM25; `Hybrid` fuses a checkpoint with BM25. Chroma's hits are approximate: a passage whose exact
rank is within the top k but which the index missed is kept as a hit marked `missed`.

Every searcher names the unit of its scores (`unit`: cos, bm25, fused) and explains a score
(`explain`): the parts it adds up from, each with the words it owes to, computed by the model itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.common.config import DataConfig
from core.common.types import Progress
from core.data.vocab import Vocab
from core.model.encoder import Checkpoint
from core.retrieval.bm25 import BM25, bm25_tokens
from core.retrieval.catalog import Catalog
from core.retrieval.explain import Explanation, Part, split_parts, word_shares
from core.retrieval.hybrid import PREFIX, bm25_weight, fuse
from core.retrieval.index import (
    ChromaIndex,
    IndexBuild,
    SearchIndexError,
    chroma_client,
    ensure_index,
    open_index,
    set_aside_if_corrupt,
)
from core.retrieval.metrics import judged_rank, rank_of
from core.retrieval.queries import QueryToken, query_tokens, validate_query

QUIET_S = 3.0  # a background index build starts, and adds each chunk, once the app has been idle this long


class Activity:
    """When the app last did foreground work (encoding passages or queries): a background index build
    waits, before it starts and before each chunk it adds to Chroma, until it has been quiet for
    QUIET_S, so it never slows a page. (Chroma adds on its own thread pool, which no thread priority
    of ours reaches.)"""

    def __init__(self):
        self.lock, self.busy, self.last = threading.Lock(), 0, time.monotonic()

    @contextmanager
    def working(self) -> Iterator[None]:
        with self.lock:
            self.busy += 1
        try:
            yield
        finally:
            with self.lock:
                self.busy, self.last = self.busy - 1, time.monotonic()

    def wait_quiet(self, quiet_s: float | None = None) -> None:
        quiet_s = QUIET_S if quiet_s is None else quiet_s
        while True:
            with self.lock:
                left = 0.2 if self.busy else self.last + quiet_s - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.5))


FOREGROUND = Activity()  # this process's


@dataclass(frozen=True)
class ResultHit:
    rank: int  # 1-based, over the whole corpus
    pid: str
    score: float  # in the unit of the searcher that ranked it (`SearchResult.unit`)
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
    unit: str  # what the scores are: the searcher's `unit`
    path: str  # what answered: "exact" (every passage scored) or "chroma" (the HNSW index)
    notice: str | None = None  # the index failed during this search and was rebuilt

    def rank_of(self, pid: str, row: int) -> int:
        """Rank of a passage over the whole corpus: its place in the top k, else from the scores, a
        tie counting against it as in `core.retrieval.metrics.judged_rank`."""
        for h in self.hits:
            if h.pid == pid:
                return h.rank
        return rank_of(self.scores, row)


def _result(
    ranker: Ranked,
    query: str,
    top: list[tuple[int, float, bool]],
    scores: np.ndarray,
    encode_ms: float,
    search_ms: float,
    floor: float | None = None,
    path: str = "exact",
) -> SearchResult:
    """Assemble `ranker`'s `SearchResult` from top-k (row, score, missed) triples, in rank order, and the
    scores of every passage. Passages scoring at or below `floor` count as not retrieved (BM25: no
    query word)."""
    catalog = ranker.catalog
    qid, judged_rows = catalog.judged_rows(query)
    judged_set = set(judged_rows)
    hits = [
        ResultHit(i, catalog.pids[r], s, catalog.display_text(r), r in judged_set, missed)
        for i, (r, s, missed) in enumerate(top, 1)
    ]
    tokens, dropped = ranker.tokens(query)
    result = SearchResult(
        ranker.name, query, hits, encode_ms, search_ms, tokens, dropped, qid, None, scores, ranker.unit, path
    )
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
    passage, from which the judged passages' ranks of dataset queries follow; `unit` names the scores
    and `explain` takes one apart."""

    name: str
    unit: str
    catalog: Catalog
    val_fraction: float = DataConfig.val_fraction
    vocab: Vocab | None = None  # the words the model knows; None: every word counts (BM25)

    def scores(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """The score of `query` with each passage (by row), taken apart."""
        raise NotImplementedError

    def explain_result(self, result: SearchResult) -> dict[str, Explanation]:
        """The explanation of each hit of `result` and of its judged passage, by passage id."""
        hits = result.hits + ([result.judged] if result.judged else [])
        found = self.explain(result.query, [self.catalog.row[h.pid] for h in hits])
        return {h.pid: e for h, e in zip(hits, found)}

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
    """One checkpoint, ready to search. Its passages are encoded (or read back from its up-to-date
    index) when it opens, so exact search answers at once; a missing index is then built from those
    vectors, on a background thread with `background` (the app), and answers once it is complete."""

    unit = "cos"

    def __init__(
        self,
        name: str,
        checkpoint: Checkpoint | str | Path,
        catalog: Catalog,
        chroma_path: str | Path | None = None,
        progress: Progress | None = None,
        background: bool = False,
    ):
        self.name, self.catalog = name, catalog
        self.checkpoint = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(name, checkpoint)
        self.encoder, self.fingerprint = self.checkpoint.encoder, self.checkpoint.fingerprint
        self.vocab = self.encoder.vocab
        self.val_fraction = self.checkpoint.val_fraction
        self.chroma_path, self._repairing = chroma_path, threading.Lock()
        self.index: ChromaIndex | None = None  # None until the index is open (exact search answers)
        self.notice: str | None = None  # the index was unreadable and has been rebuilt
        self.index_error: str | None = None  # why a background build failed (exact search answers)
        self.index_share = 0.0  # how much of a background build is done
        self.unreported: str | None = None  # a background build's notice, for the next search to carry
        self.vectors = self._open_or_encode(progress)
        if self.index is None and not background:
            self._build(background=False)
        self.search("warm up")  # torch's (and Chroma's) one-off set-up is not the first query's
        self.builder: threading.Thread | None = None
        if self.index is None and background:
            self.builder = threading.Thread(
                target=self._build, args=(True,), name=f"index {name}", daemon=True
            )
            self.builder.start()
        if progress:
            progress(1.0, f"The {name} model is ready")

    @property
    def index_state(self) -> str:
        """'ready' (searches use the Chroma index), 'being built (45%)', or why building it failed
        (exact search answers meanwhile)."""
        if self.index is not None:
            return "ready"
        if self.index_error:
            return f"could not be built ({self.index_error})"
        return f"being built ({self.index_share:.0%})"

    def _open_or_encode(self, progress: Progress | None) -> np.ndarray:
        """Every passage's vector: read back from this checkpoint's up-to-date index when there is one
        (kept as `self.index`), else encoded now (`progress` moves with every batch)."""
        try:
            client = chroma_client(self.chroma_path)
            index = open_index(client, self.fingerprint, self.catalog.fingerprint, len(self.catalog))
            if index is not None:
                vectors = index.get_vectors(self.catalog.pids)
                self.index = index
                return vectors
        except Exception:  # unreadable: encoded below; the build sets the folder aside and rebuilds
            pass

        def report(done: int, total: int) -> None:
            progress(
                done / total,
                f"Encoding {total:,} passages with the {self.name} model: {done:,} done ({done / total:.0%})",
            )

        with FOREGROUND.working():
            return self.encoder.encode_passages(self.catalog.texts, progress=report if progress else False)

    def _build(self, background: bool) -> None:
        """Build this checkpoint's index from `self.vectors` and answer from it once complete. In the
        `background`, a failure is kept in `index_error` (exact search goes on answering), and a
        repair's notice is left for the next search to carry."""

        def report(done: int, total: int) -> None:  # after each chunk added
            self.index_share = done / total
            if background:
                FOREGROUND.wait_quiet()

        try:
            if background:
                FOREGROUND.wait_quiet()
            made, notice = self._open_index(report)
            made.index.query(self.vectors[:1], 1)  # Chroma's one-off set-up, before searches use it
            self.notice, self.unreported, self.index = notice, notice if background else None, made.index
        except Exception as e:
            if not background:
                raise
            self.index_error = f"{type(e).__name__}: {e}"

    def _open_index(self, progress, failed: bool = False) -> tuple[IndexBuild, str | None]:
        """(this checkpoint's index, opened or built from `self.vectors`; a notice when it had to be
        repaired). After a failed search (`failed`) it is reopened, rebuilt only when it does not answer
        (another process may have rebuilt it meanwhile). A Chroma folder whose database cannot be read
        is set aside and the index rebuilt in a fresh one."""

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
                vectors=self.vectors,
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
        """(top-k hits, None), or (None, None) while the index is being built; when the index fails,
        it is repaired once (by one thread; the others wait for it) and searched again: (hits, the
        notice)."""
        index = self.index
        if index is None:
            return None, None
        try:
            return index.query(vec, k)[0], None
        except SearchIndexError:
            with self._repairing:
                if self.index is index:
                    made, self.notice = self._open_index(False, failed=True)
                    self.index = made.index
            return self.index.query(vec, k)[0], self.notice

    def search(self, query: str, k: int = 10) -> SearchResult:
        """The top k from the Chroma index (with any passage it missed, marked), or from exact search
        over every passage while the index is not ready; `path` says which."""
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        with FOREGROUND.working():
            vec = self.encoder.encode_queries([query])
        t1 = time.perf_counter()
        hits, notice = self._query(vec, k)
        scores = self.vectors @ vec[0]
        if hits is None:
            top, path = exact_top(scores, k), "exact"
        else:
            top, path = with_missed([(self.catalog.row[h.docid], h.score) for h in hits], scores, k), "chroma"
        t2 = time.perf_counter()
        result = _result(self, query, top, scores, (t1 - t0) * 1e3, (t2 - t1) * 1e3, path=path)
        result.notice, self.unreported = notice or self.unreported, None
        return result

    def encode_query(self, query: str) -> np.ndarray:
        """One query's unit vector."""
        return self.encoder.encode_queries([query])[0]

    def scores(self, texts: list[str]) -> np.ndarray:
        with FOREGROUND.working():
            return self.encoder.encode_queries(texts) @ self.vectors.T

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """Cosine = meaning (the dense parts' product) + shared words (the learned weights of the words
        query and passage share), from the model's own parts (`TwoTower.parts`)."""
        with FOREGROUND.working():
            cosines = self.vectors[rows] @ self.encode_query(query)
            splits = self.encoder.explain(query, [self.catalog.texts[r] for r in rows])
        return [Explanation(float(c), self.unit, split_parts(s)) for c, s in zip(cosines, splits)]

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return query_tokens(self.vocab, query, self.encoder.query_len)


class Lexical(Ranked):
    """BM25 over the same corpus, with the same `search` as an `Engine`."""

    name, unit = "bm25", "bm25"

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
        return _result(self, query, top, scores, 0.0, (t1 - t0) * 1e3, floor=0.0)

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """BM25 = the sum over the query's words of each one's BM25 term score in the passage."""
        scores = self.bm25.scores([query])[0]
        return [
            Explanation(
                float(scores[r]), self.unit, (Part("shared words", sum(terms.values()), word_shares(terms)),)
            )
            for r, terms in zip(rows, self.bm25.explain(query, rows))
        ]

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return [QueryToken(t, True) for t in bm25_tokens(query)], 0


class Hybrid(Ranked):
    """A checkpoint fused with BM25 (`core.retrieval.hybrid.fuse`, the checkpoint's fitted weight), searched
    exactly over every passage, with the same `search` as an `Engine`."""

    unit = "fused"

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
        return _result(self, query, top, scores, 0.0, (t1 - t0) * 1e3)

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """Fused = weight × the checkpoint's cosine (its meaning and shared-words parts) + BM25 × (1 -
        weight) / the query's best BM25 score (its words), as `core.retrieval.hybrid.fuse` adds them."""
        fused, bm25 = self.scores([query])[0], self.lexical.scores([query])[0]
        best, w = float(bm25.max()), self.weight
        scale = bm25_weight(best, w)
        model, words = f"{self.engine.name} × {w:.2g}", f"bm25 × {1 - w:.2g} ÷ {best:.2f} (its best)"
        splits = self.engine.encoder.explain(query, [self.catalog.texts[r] for r in rows])
        return [
            Explanation(
                float(fused[r]),
                self.unit,
                (
                    *split_parts(split, w, model),
                    Part(
                        "shared words", sum(terms.values()) * scale, word_shares(terms, scale), source=words
                    ),
                ),
            )
            for r, split, terms in zip(rows, splits, self.lexical.bm25.explain(query, rows))
        ]
