"""A search as a page (or the CLI) shows it, assembled from a ranker's hits: each hit's rank, text and
whether it is judged, the best-ranked judged passage wherever it ranks, the tokens the ranker saw,
how long it took and what answered. The one place the pages and the CLI get a search from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from core.retrieval.explain import Explanation
from core.retrieval.metrics import rank_of
from core.retrieval.queries import QueryToken, validate_query
from core.retrieval.ranker import Ranker


@dataclass(frozen=True)
class ResultHit:
    rank: int  # 1-based, over the whole corpus
    pid: str
    score: float  # in the unit of the ranker that ranked it (`SearchResult.unit`)
    text: str
    judged: bool  # a passage the corpus judges relevant to this (dataset) query
    missed: bool = False  # exact search ranks it within the top k, the approximate index did not return it


@dataclass
class SearchResult:
    model: str
    query: str
    hits: list[ResultHit]
    search_ms: float  # the top k found (the query encoded, the index or every passage searched)
    rank_ms: float  # every passage scored exactly, for the rank of any of them
    tokens: list[QueryToken]
    dropped_tokens: int  # tokens past the model's query length, never seen
    query_id: str | None  # the dataset query the text matches, if any
    judged: ResultHit | None  # the best-ranked judged passage, wherever it ranks
    scores: np.ndarray = field(repr=False)  # every passage's score, in corpus order
    unit: str  # what the scores are: the ranker's `unit`
    path: str  # what answered: "exact" (every passage scored) or "chroma" (the HNSW index)
    notice: str | None = None  # something the person searching should read (`Hits.notice`)

    def rank_of(self, pid: str, row: int) -> int:
        """Rank of a passage over the whole corpus: its place in the top k, else from the scores, a
        tie counting against it as in `core.retrieval.metrics.judged_rank`."""
        for h in self.hits:
            if h.pid == pid:
                return h.rank
        return rank_of(self.scores, row)


def search(ranker: Ranker, query: str, k: int = 10) -> SearchResult:
    """`query` through `ranker` (fitted on a `Catalog`): its top k, and every passage's exact score for
    the judged passage's rank; a query the ranker cannot read raises `QueryError`."""
    query = validate_query(query)
    t0 = time.perf_counter()
    hits = ranker.search(query, k)
    t1 = time.perf_counter()
    scores = ranker.scores([query])[0]
    t2 = time.perf_counter()
    catalog = ranker.catalog
    qid, judged_rows = catalog.judged_rows(query)
    judged_pids = {catalog.pids[r] for r in judged_rows}
    shown = [
        ResultHit(
            i, h.docid, h.score, catalog.display_text(catalog.row[h.docid]), h.docid in judged_pids, h.missed
        )
        for i, h in enumerate(hits, 1)
    ]
    tokens, dropped = ranker.tokens(query)
    result = SearchResult(
        ranker.name,
        query,
        shown,
        (t1 - t0) * 1e3,
        (t2 - t1) * 1e3,
        tokens,
        dropped,
        qid,
        None,
        scores,
        ranker.unit,
        hits.path,
        hits.notice,
    )
    reachable = [r for r in judged_rows if ranker.floor is None or scores[r] > ranker.floor]
    if reachable:
        best = max(reachable, key=lambda r: scores[r])
        pid = catalog.pids[best]
        rank = result.rank_of(pid, best)
        result.judged = ResultHit(rank, pid, float(scores[best]), catalog.display_text(best), True)
    return result


def explain_result(ranker: Ranker, result: SearchResult) -> dict[str, Explanation]:
    """The explanation of each hit of `result` and of its judged passage, by passage id."""
    hits = result.hits + ([result.judged] if result.judged else [])
    found = ranker.explain(result.query, [ranker.catalog.row[h.pid] for h in hits])
    return {h.pid: e for h, e in zip(hits, found)}
