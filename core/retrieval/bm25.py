"""BM25 (via `bm25s`, sparse-matrix BM25: fast and well tested) over our own tokeniser.

The scoring behind the lexical ranker (`core.retrieval.lexical.Lexical`), BM25-hard candidates and
BM25 negatives for mining (`batch_search`: each query's top k as `Hit`s)."""

from __future__ import annotations

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from core.common.types import Hit
from core.data.text import tokenize

_STOP = set(STOPWORDS_EN)
BM25_VERSION = 1  # bump on any change to its tokens or parameters: figures and weights keyed on it are redone


def bm25_tokens(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in _STOP and any(ch.isalnum() for ch in t)]


class BM25:
    def __init__(self, k1: float = 0.9, b: float = 0.4):
        self.k1, self.b = k1, b

    def fit(self, passages: list[str], ids: list[str] | None = None) -> BM25:
        self.ids = list(ids) if ids is not None else [str(i) for i in range(len(passages))]
        self.model = bm25s.BM25(k1=self.k1, b=self.b)
        self.model.index([bm25_tokens(t) or ["<empty>"] for t in passages], show_progress=False)
        return self

    def scores(self, queries: list[str]) -> np.ndarray:
        """(Q, N) BM25 scores over the fitted passages."""
        out = np.zeros((len(queries), len(self.ids)), dtype=np.float32)
        for i, q in enumerate(queries):
            if tokens := bm25_tokens(q):
                out[i] = self.model.get_scores(tokens)
        return out

    def explain(self, query: str, rows: list[int]) -> list[dict[str, float]]:
        """What each query term adds to the BM25 score of each passage (by row): the terms' shares add
        up to `scores([query])` at those rows, to rounding (a repeated term counts each time, as there)."""
        shares: list[dict[str, float]] = [{} for _ in rows]
        for term in bm25_tokens(query):
            column = self.model.get_scores([term])[rows]
            for share, value in zip(shares, column.tolist()):
                if value:
                    share[term] = share.get(term, 0.0) + value
        return shares

    def batch_search(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        scores = self.scores(queries)
        k = min(k, scores.shape[1])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [[Hit(self.ids[c], float(row[c])) for c in cols] for row, cols in zip(scores, top)]
