"""A corpus, as BEIR keeps one: passages, and apart from them, optionally, queries and graded
judgements (qrels). Every loader (`core.data.formats`) returns one; nothing above the data layer
knows a source's schema.

Queries are split by a hash of their id into training, tuning and validation queries (`split_queries`,
`tune_queries`), the same on every machine. A test collection (`held_out`) is only ever measured on:
every judged query is a validation query, none is trained or tuned on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

PASSAGE_COLUMNS = ["pid", "title", "text"]
QUERY_COLUMNS = ["query_id", "text", "query_type"]


class DataSourceError(RuntimeError):
    """A data source cannot be read; the message names the file (line, column) and what to do."""


@dataclass
class Corpus:
    passages: pd.DataFrame  # pid (str), title ("" where none), text; row order is the corpus order
    queries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=QUERY_COLUMNS))
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)  # query_id -> {pid: grade > 0}
    candidates: dict[str, list[str]] = field(default_factory=dict)  # query_id -> the source's own list
    source: str = ""
    held_out: bool = False  # a test collection: every judged query is for measuring only

    def __post_init__(self):
        if "title" not in self.passages:
            self.passages = self.passages.assign(title="")
        if "query_type" not in self.queries:
            self.queries = self.queries.assign(query_type="")
        # plain Python strings: iterating Arrow-backed columns costs 20x more, and every stage iterates them
        self.passages = _plain(self.passages[PASSAGE_COLUMNS])
        self.queries = _plain(self.queries[QUERY_COLUMNS])

    @cached_property
    def positives(self) -> dict[str, set[str]]:
        """query_id -> the pids judged relevant to it (empty for a query without judgements)."""
        return {q: {p for p, g in self.qrels.get(q, {}).items() if g > 0} for q in self.queries.query_id}

    @property
    def judged(self) -> bool:
        """Whether any query has a relevant passage: what metrics and the Confused page need."""
        return any(self.positives.values())

    def texts(self) -> list[str]:
        """Each passage as the rankers read it: its title, then its text."""
        return [f"{t}\n{x}" if t else x for t, x in zip(self.passages.title, self.passages.text)]

    def passage_text(self) -> dict[str, str]:
        return dict(zip(self.passages.pid, self.texts()))

    def relevance(self, query_ids: list[str]) -> np.ndarray:
        """(Q, passages) bool, passages in corpus order: which are judged relevant to each query."""
        return self.gains(query_ids) > 0

    def gains(self, query_ids: list[str]) -> np.ndarray:
        """(Q, passages) float32 graded judgements (0: not relevant), passages in corpus order."""
        row = {pid: i for i, pid in enumerate(self.passages.pid)}
        gains = np.zeros((len(query_ids), len(self.passages)), dtype=np.float32)
        for i, q in enumerate(query_ids):
            for pid, grade in self.qrels.get(q, {}).items():
                gains[i, row[pid]] = max(grade, 0)
        return gains

    def fingerprint(self) -> str:
        """A hash of everything a figure or a stored vector depends on: the passages (ids, titles,
        texts, in order), the queries, the judgements and the candidate lists."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha1()
        for pid, title, text in zip(self.passages.pid, self.passages.title, self.passages.text):
            h.update(f"{pid}\t{title}\t{text}\n".encode())
        h.update(b"\x00queries\n")
        for qid, text in zip(self.queries.query_id, self.queries.text):
            judged = ",".join(f"{p}:{g}" for p, g in sorted(self.qrels.get(qid, {}).items()))
            h.update(f"{qid}\t{text}\t{judged}\t{','.join(self.candidates.get(qid, []))}\n".encode())
        return h.hexdigest()[:16]


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with object columns of plain Python values, read out column by column (`astype(object)`
    iterates an Arrow-backed column value by value: 4x slower)."""
    return pd.DataFrame({c: pd.Series(table[c].tolist(), dtype=object) for c in table.columns})


def passage_id(text: str) -> str:
    """Stable id of a passage that has none: a hash of its text."""
    return "p" + hashlib.blake2b(text.strip().encode("utf-8"), digest_size=8).hexdigest()


def split_position(query_id: str) -> float:
    """A query's fixed place in [0, 1] by a hash of its id, identical on every machine and run."""
    return int(hashlib.md5(str(query_id).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def is_validation(query_id: str, fraction: float) -> bool:
    return split_position(query_id) < fraction


def is_tuning(query_id: str, val_fraction: float, tune_fraction: float) -> bool:
    """The tuning slice sits right after the validation slice: [val, val + tune)."""
    return val_fraction <= split_position(query_id) < val_fraction + tune_fraction


def split_queries(
    corpus: Corpus, val_fraction: float, tune_fraction: float = 0.0
) -> tuple[list[str], list[str]]:
    """(train query ids, validation query ids), only queries with at least one positive; the tuning
    slice (`tune_queries`) belongs to neither. A held-out collection's judged queries are all
    validation queries."""
    train, val = [], []
    for qid in corpus.queries.query_id:
        if not corpus.positives[qid]:
            continue
        if corpus.held_out:
            val.append(qid)
        elif not is_tuning(qid, val_fraction, tune_fraction):
            (val if is_validation(qid, val_fraction) else train).append(qid)
    return train, val


def tune_queries(corpus: Corpus, val_fraction: float, tune_fraction: float) -> list[str]:
    """The queries (with a positive) that fit settings chosen by a score, such as a fusion weight:
    never trained on, mined from or reported. A held-out collection has none."""
    if corpus.held_out:
        return []
    return [
        q
        for q in corpus.queries.query_id
        if corpus.positives[q] and is_tuning(q, val_fraction, tune_fraction)
    ]
