"""One interface for every ranker, in evaluation and in the app (Pyserini's searchers share `search`
and `batch_search`; ours share this):

- `fit(passages)`: ready the ranker over a corpus (a `Catalog` in the app, plain `Passages` in
  `IREvaluator`); fitting again on the same passages does nothing, so a ranker the app opened is
  evaluated as it is;
- `scores(queries) -> (Q, N)`: the exact score of every passage, from which the rank of any passage
  (the judged one included) follows over the whole corpus (`judged_ranks`, `query_scores`);
- `search(query, k) -> SearchResult`: by default the exact top k of `scores`;
- `unit` (what the scores are: cos, bm25, fused), `explain` (a score taken apart) and `tokens` (what
  the ranker sees of a query).

`FOREGROUND` tracks the app's foreground work, which a background index build waits for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from core.common.config import DataConfig
from core.data.text import tokenize
from core.data.vocab import Vocab
from core.retrieval.catalog import Catalog, Passages
from core.retrieval.explain import Explanation, Part
from core.retrieval.metrics import judged_rank, rank_of
from core.retrieval.queries import QueryToken, validate_query

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
    score: float  # in the unit of the ranker that ranked it (`SearchResult.unit`)
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
    unit: str  # what the scores are: the ranker's `unit`
    path: str  # what answered: "exact" (every passage scored) or "chroma" (the HNSW index)
    notice: str | None = None  # the index failed during this search and was rebuilt

    def rank_of(self, pid: str, row: int) -> int:
        """Rank of a passage over the whole corpus: its place in the top k, else from the scores, a
        tie counting against it as in `core.retrieval.metrics.judged_rank`."""
        for h in self.hits:
            if h.pid == pid:
                return h.rank
        return rank_of(self.scores, row)


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


class Ranker:
    """What every ranker is (see the module's docstring). A subclass sets `name` and `unit` and
    implements `_fit` and `scores`; the rest has defaults it may override."""

    name: str
    unit: str = "score"
    floor: float | None = None  # passages scoring at or below it are not retrieved (BM25: no query word)
    val_fraction: float = DataConfig.val_fraction  # the split its validation queries come from
    vocab: Vocab | None = None  # the words the model knows; None: every word counts
    catalog: Catalog | None = None  # what it was fitted on (`Passages` when fitted by the evaluator)

    def fit(self, passages: Passages) -> Ranker:
        """Ready the ranker over `passages`; nothing to do when it is fitted on them already."""
        if not passages.same(self.catalog):
            self._fit(passages)
            self.catalog = passages
        return self

    def _fit(self, passages: Passages) -> None:
        raise NotImplementedError

    def scores(self, queries: list[str]) -> np.ndarray:
        """(Q, N): each query's score with every fitted passage."""
        raise NotImplementedError

    @property
    def version(self) -> str:
        """What a cache of this ranker's results is keyed by (a checkpoint's file fingerprint, never an
        object's id)."""
        return self.name

    def search(self, query: str, k: int = 10) -> SearchResult:
        """The exact top k over every passage (`path` "exact")."""
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        scores = self.scores([query])[0]
        top = exact_top(scores, k, floor=self.floor)
        return self.result(query, top, scores, 0.0, (time.perf_counter() - t0) * 1e3)

    def result(
        self,
        query: str,
        top: list[tuple[int, float, bool]],
        scores: np.ndarray,
        encode_ms: float,
        search_ms: float,
        path: str = "exact",
    ) -> SearchResult:
        """The `SearchResult` of top-k (row, score, missed) triples, in rank order, and the scores of
        every passage; its judged passage is the best-scored one above `floor`."""
        catalog = self.catalog
        qid, judged_rows = catalog.judged_rows(query)
        judged_set = set(judged_rows)
        hits = [
            ResultHit(i, catalog.pids[r], s, catalog.display_text(r), r in judged_set, missed)
            for i, (r, s, missed) in enumerate(top, 1)
        ]
        tokens, dropped = self.tokens(query)
        result = SearchResult(
            self.name, query, hits, encode_ms, search_ms, tokens, dropped, qid, None, scores, self.unit, path
        )
        reachable = [r for r in judged_rows if self.floor is None or scores[r] > self.floor]
        if reachable:
            best = max(reachable, key=lambda r: scores[r])
            pid = catalog.pids[best]
            result.judged = ResultHit(
                result.rank_of(pid, best), pid, float(scores[best]), catalog.display_text(best), True
            )
        return result

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """The score of `query` with each passage (by row), taken apart; by default one part."""
        scores = self.scores([query])[0] if rows else []
        return [Explanation(float(scores[r]), self.unit, (Part("score", float(scores[r])),)) for r in rows]

    def explain_result(self, result: SearchResult) -> dict[str, Explanation]:
        """The explanation of each hit of `result` and of its judged passage, by passage id."""
        hits = result.hits + ([result.judged] if result.judged else [])
        found = self.explain(result.query, [self.catalog.row[h.pid] for h in hits])
        return {h.pid: e for h, e in zip(hits, found)}

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        """(the tokens this ranker sees in `query`, unknown ones marked; tokens past its length limit)."""
        return [QueryToken(t, True) for t in tokenize(query)], 0

    def query_scores(self, query_ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(score of each dataset query with every passage, which passages are judged), (Q, passages)."""
        queries = self.catalog.corpus.queries.set_index("query_id").text
        scores = np.ascontiguousarray(self.scores([queries[q] for q in query_ids]), dtype=np.float32)
        return torch.from_numpy(scores), torch.from_numpy(self.catalog.corpus.relevance(query_ids))

    def judged_ranks(self, query_ids: list[str]) -> np.ndarray:
        """Rank of each dataset query's best judged passage over the whole corpus (exact scores)."""
        return judged_rank(*self.query_scores(query_ids)).numpy()
