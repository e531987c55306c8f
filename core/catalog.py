"""The corpus as the searchers share it: passages by row, the judged passages of dataset queries,
and how much of the corpus speaks of a query's words (few passages: likely no answer here)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from core.bm25 import bm25_tokens
from core.data import Corpus
from core.queries import content_words, query_key
from core.text import normalize

FEW_PASSAGES = 3  # at most this many passages holding all of a query's words: likely no answer here


class Catalog:
    """The corpus as the engines share it: passages by row, judged passages of dataset queries."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.pids = list(corpus.passages.pid)
        self.texts = list(corpus.passages.text)
        self.row = {pid: i for i, pid in enumerate(self.pids)}
        self.fingerprint = corpus.fingerprint()
        self.query_ids: dict[str, str] = {}
        for qid, text in zip(corpus.queries.query_id, corpus.queries.text):
            if corpus.positives[qid]:
                self.query_ids.setdefault(query_key(text), qid)

    def __len__(self) -> int:
        return len(self.pids)

    def judged_rows(self, query: str) -> tuple[str | None, list[int]]:
        """(dataset query id, rows of its judged passages) when `query` is a dataset query."""
        qid = self.query_ids.get(query_key(query))
        return qid, sorted(self.row[p] for p in self.corpus.positives[qid]) if qid else []

    def display_text(self, row: int) -> str:
        """The passage as a person should read it: mojibake repaired, typographic marks folded."""
        return normalize(self.texts[row])

    @cached_property
    def passage_terms(self) -> list[frozenset[str]]:
        """Each passage's BM25 terms, made on first use (a second or two for 20,000 passages)."""
        return [frozenset(bm25_tokens(t)) for t in self.texts]

    @cached_property
    def term_rows(self) -> dict[str, set[int]]:
        """The rows of the passages holding each term."""
        rows = defaultdict(set)
        for row, terms in enumerate(self.passage_terms):
            for t in terms:
                rows[t].add(row)
        return dict(rows)


@dataclass(frozen=True)
class Coverage:
    """How much of the corpus speaks of a query's content words."""

    words: list[str]  # the query's content words
    missing: list[str]  # those that occur in no passage
    together: int  # passages that hold every content word

    @property
    def thin(self) -> bool:
        """Whether the corpus likely holds no answer: at most FEW_PASSAGES passages hold all the words."""
        return bool(self.words) and self.together <= FEW_PASSAGES


def coverage(catalog: Catalog, query: str) -> Coverage:
    """Which of the query's content words occur in the corpus, and how many passages hold them all.
    The corpus is a sample of MS MARCO: a question none of its passages speaks of has no answer here,
    whatever the model does."""
    words = content_words(query)
    found = [catalog.term_rows.get(w, set()) for w in words]
    together = len(set.intersection(*found)) if found else 0
    return Coverage(words, [w for w, rows in zip(words, found) if not rows], together)
