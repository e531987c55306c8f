"""BM25 (via `bm25s`, sparse-matrix BM25: fast and well tested) over our own tokeniser, with English
stop words and Snowball stemming (PyStemmer's English stemmer, the one bm25s itself takes), as the
field's BM25 runs: "running", "runs" and "run" are one term, "the" none.

The scoring behind the lexical ranker (`core.retrieval.lexical.Lexical`), BM25-hard candidates and
BM25 negatives for mining (`batch_search`: each query's top k as `Hit`s)."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import numpy as np
import Stemmer

from core.common.types import Hit
from core.data.text import LUCENE_STOP_WORDS, tokenize

# Lucene's English stop words (core.data.text), and our tokeniser's clitics: contracted stop words
# ("'s" of "it's", "n't" of "don't"), which bm25s's own tokeniser drops as one-letter words.
_STOP = set(LUCENE_STOP_WORDS) | {"'s", "n't", "'re", "'ve", "'ll", "'d", "'m"}
_PARTS = re.compile(r"[-&]")  # a compound's joints: "t-cell", "at&t" count as their parts, as in Lucene
_STEMMERS = threading.local()  # a PyStemmer stemmer is not thread-safe: one per thread
BM25_VERSION = 2  # bump on any change to its terms or parameters: figures and weights keyed on it are redone


def bm25_tokens(text: str) -> list[str]:
    """The words of `text` BM25 counts, as typed (lower-cased): our tokens less stop words and symbols."""
    return [t for t in tokenize(text) if t not in _STOP and any(ch.isalnum() for ch in t)]


def word_terms(words: list[str]) -> list[tuple[str, ...]]:
    """The terms BM25 counts each word as: its parts (a compound's, less stop words), each Snowball-stemmed
    ("running" -> ("run",); "state-of-the-art" -> ("state", "art"))."""
    return [_terms(w) for w in words]


@lru_cache(maxsize=1 << 18)  # a corpus's words repeat: each is split and stemmed once
def _terms(word: str) -> tuple[str, ...]:
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = Stemmer.Stemmer("english")
    return tuple(stemmer.stemWords([p for p in _PARTS.split(word) if p and p not in _STOP]))


def bm25_terms(text: str) -> list[str]:
    """The terms BM25 counts in `text`, in order (`word_terms` of its `bm25_tokens`)."""
    return [t for terms in word_terms(bm25_tokens(text)) for t in terms]


class BM25:
    """k1 1.5 and b 0.75 are the field's (bm25s's defaults; b 0.75 is Robertson's and Lucene's), one
    setting for every corpus; on MS MARCO's tuning queries they edge Anserini's 0.9 / 0.4
    (docs/results.md, "BM25 with stemming")."""

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b

    def fit(self, passages: list[str], ids: list[str] | None = None) -> BM25:
        import bm25s  # here, not above: it imports numba (0.4 s), which tokenising a query does not need

        self.ids = list(ids) if ids is not None else [str(i) for i in range(len(passages))]
        self.model = bm25s.BM25(k1=self.k1, b=self.b)
        self.model.index([bm25_terms(t) or ["<empty>"] for t in passages], show_progress=False)
        return self

    def scores(self, queries: list[str]) -> np.ndarray:
        """(Q, N) BM25 scores over the fitted passages."""
        out = np.zeros((len(queries), len(self.ids)), dtype=np.float32)
        for i, q in enumerate(queries):
            if terms := bm25_terms(q):
                out[i] = self.model.get_scores(terms)
        return out

    def explain(self, query: str, rows: list[int]) -> list[dict[str, float]]:
        """What each query word adds to the BM25 score of each passage (by row), named as typed (its terms'
        scores together): the shares add up to `scores([query])` at those rows, to rounding (a repeated
        word counts each time, as there; so do two words of one stem, "run" and "running")."""
        shares: list[dict[str, float]] = [{} for _ in rows]
        words = bm25_tokens(query)
        for word, terms in zip(words, word_terms(words)):
            for term in terms:
                column = self.model.get_scores([term])[rows]
                for share, value in zip(shares, column.tolist()):
                    if value:
                        share[word] = share.get(word, 0.0) + value
        return shares

    def batch_search(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        scores = self.scores(queries)
        k = min(k, scores.shape[1])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [[Hit(self.ids[c], float(row[c])) for c in cols] for row, cols in zip(scores, top)]
