"""The lexical ranker: BM25 (`core.retrieval.bm25`) over the same corpus, with the same interface as
every ranker (`core.retrieval.ranker`): measured by `IREvaluator` and shown by the app alike."""

from __future__ import annotations

import numpy as np

from core.retrieval.bm25 import BM25, bm25_tokens
from core.retrieval.catalog import Passages
from core.retrieval.explain import Explanation, Part, word_shares
from core.retrieval.queries import QueryToken
from core.retrieval.ranker import Ranker


class Lexical(Ranker):
    """BM25; a passage sharing no word with the query is not retrieved (`floor` 0)."""

    name, unit, floor = "bm25", "bm25", 0.0

    def __init__(self, catalog: Passages | None = None):
        if catalog is not None:
            self.fit(catalog)

    def _fit(self, passages: Passages) -> None:
        self.bm25 = BM25().fit(passages.texts, passages.pids)

    def scores(self, queries: list[str]) -> np.ndarray:
        return self.bm25.scores(queries)

    def term_shares(self, query: str, rows: list[int]) -> list[dict[str, float]]:
        """What each query term adds to the BM25 score of each passage (by row)."""
        return self.bm25.explain(query, rows)

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """BM25 = the sum over the query's words of each one's BM25 term score in the passage."""
        scores = self.bm25.scores([query])[0]
        return [
            Explanation(
                float(scores[r]), self.unit, (Part("shared words", sum(terms.values()), word_shares(terms)),)
            )
            for r, terms in zip(rows, self.term_shares(query, rows))
        ]

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return [QueryToken(t, True) for t in bm25_tokens(query)], 0
