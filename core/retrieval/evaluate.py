"""One IR evaluator for training, the CLI and the app (sentence-transformers style: plain dicts in,
a dict of metrics out).

A *ranker* is a `core.retrieval.ranker.Ranker` (the same objects the app searches with, made by name
in `core.retrieval.registry`): `fit(passages)`, then `scores(query_texts) -> (Q, N)` over them; one the
app fitted on the same passages is scored as it is.
Three modes share one scoring pass: *full* ranks every passage; *rerank* ranks each query's own
candidates from the data (queries with at least two candidates, one of them judged); *bm25_hard*
ranks each query's judged passage(s) among the `BM25_HARD_DEPTH` best other passages BM25 finds in the
whole corpus, a candidate list hard enough to tell models apart.
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.corpus import Corpus
from core.retrieval.bm25 import BM25
from core.retrieval.catalog import Passages
from core.retrieval.metrics import (
    LOGGED_FULL_METRICS,
    RERANK_METRICS,
    concat,
    judged_rank,
    mean_metrics,
    per_query_metrics,
)

BM25_HARD_DEPTH = 20
MODES = ("full", "bm25_hard", "rerank")


def bm25_hard_candidates(
    queries: dict[str, str],
    passages: dict[str, str],
    relevant: dict[str, set[str]],
    depth: int = BM25_HARD_DEPTH,
) -> dict[str, list[str]]:
    """{query id: its judged passages, then the `depth` best-scored other passages by BM25 over all of
    `passages`} (fewer where fewer passages share a word with the query)."""
    pids = list(passages)
    bm25 = BM25().fit(list(passages.values()), pids)
    out = {}
    qids = list(queries)
    for start in range(0, len(qids), 256):
        chunk = qids[start : start + 256]
        for q, row in zip(chunk, bm25.scores([queries[c] for c in chunk])):
            judged = sorted(p for p in relevant.get(q, ()) if p in passages)
            n = min(depth + len(judged), len(row))
            top = np.argpartition(-row, n - 1)[:n]
            order = top[np.argsort(-row[top], kind="stable")]
            others = [pids[c] for c in order if row[c] > 0 and pids[c] not in judged]
            out[q] = judged + others[:depth]
    return out


class IREvaluator:
    def __init__(
        self,
        queries: dict[str, str],
        passages: dict[str, str],
        relevant: dict[str, set[str]],
        candidates: dict[str, list[str]] | None = None,
        chunk: int = 512,
        grades: dict[str, dict[str, int]] | None = None,
        new_words: bool = False,
    ):
        self.pids = list(passages)
        self.passages = Passages(self.pids, list(passages.values()), new_words)
        col = {pid: i for i, pid in enumerate(self.pids)}
        self.qids = [q for q in queries if relevant.get(q, set()) & passages.keys()]
        self.query_texts = [queries[q] for q in self.qids]
        self.rel_cols = [[col[p] for p in relevant[q] if p in col] for q in self.qids]
        cands = candidates or {}
        self.cand_cols = [[col[p] for p in cands.get(q, []) if p in col] for q in self.qids]
        self.grades = (
            [[grades[q][self.pids[c]] for c in cols] for q, cols in zip(self.qids, self.rel_cols)]
            if grades
            else None
        )
        self.chunk = chunk
        self._relevant, self._passages, self._hard_cols = relevant, passages, None

    def hard_cols(self) -> list[list[int]]:
        """Each query's BM25-hard candidate columns, computed on first use (BM25 over the corpus)."""
        if self._hard_cols is None:
            col = {pid: i for i, pid in enumerate(self.pids)}
            cands = bm25_hard_candidates(
                dict(zip(self.qids, self.query_texts)), self._passages, self._relevant
            )
            self._hard_cols = [[col[p] for p in cands[q]] for q in self.qids]
        return self._hard_cols

    @classmethod
    def from_corpus(
        cls, corpus: Corpus, query_ids: list[str] | None = None, new_words: bool = False
    ) -> IREvaluator:
        """The evaluator of `query_ids` (all judged queries when None) over the whole corpus, with its
        graded judgements; `new_words`: rankers grow their vocabulary by its words (`Passages`)."""
        ids = set(query_ids) if query_ids is not None else None
        queries = {
            q: t for q, t in zip(corpus.queries.query_id, corpus.queries.text) if ids is None or q in ids
        }
        return cls(
            queries,
            corpus.passage_text(),
            corpus.positives,
            corpus.candidates,
            grades=corpus.qrels,
            new_words=new_words,
        )

    def _gains(self, rows, shape) -> torch.Tensor | None:
        """(Qc, N) graded judgements of the queries `rows`, or None when judgements are binary."""
        if self.grades is None:
            return None
        gains = torch.zeros(shape)
        for i, r in enumerate(rows):
            gains[i, self.rel_cols[r]] = torch.tensor(self.grades[r], dtype=torch.float32)
        return gains

    def _chunks(self, ranker):
        """Yield (rows, scores (Qc, N), relevance (Qc, N)) for query chunks."""
        for start in range(0, len(self.qids), self.chunk):
            rows = range(start, min(start + self.chunk, len(self.qids)))
            scores = torch.from_numpy(
                np.ascontiguousarray(ranker.scores([self.query_texts[r] for r in rows]), dtype=np.float32)
            )
            rel = torch.zeros_like(scores, dtype=torch.bool)
            for i, r in enumerate(rows):
                rel[i, self.rel_cols[r]] = True
            yield rows, scores, rel

    def ranks(self, ranker) -> dict[str, int]:
        """{query id: the rank of its best-scored judged passage over every passage} (`judged_rank`,
        ties counting against it, as the Confused page ranks them)."""
        ranker.fit(self.passages)
        found = [judged_rank(scores, rel) for _, scores, rel in self._chunks(ranker)]
        return dict(zip(self.qids, torch.cat(found).tolist())) if found else {}

    def __call__(self, ranker, modes=MODES) -> dict:
        """{mode: {"queries": n, metric: mean, ...}} for each of `modes`."""
        ranker.fit(self.passages)
        lists = {"rerank": self.cand_cols, "bm25_hard": self.hard_cols() if "bm25_hard" in modes else None}
        per_mode = {m: [] for m in modes}
        for rows, scores, rel in self._chunks(ranker):
            for mode in modes:
                if mode == "full":
                    gains = self._gains(rows, scores.shape)
                    per_mode[mode].append(per_query_metrics(scores, rel if gains is None else gains))
                elif found := _candidate_metrics(
                    scores, rel, [lists[mode][r] for r in rows], [self.rel_cols[r] for r in rows]
                ):
                    per_mode[mode].append(found)
        out = {}
        for mode in modes:
            m = concat(per_mode[mode])
            if mode == "full":
                out[mode] = {
                    "queries": len(self.qids),
                    "corpus": len(self.pids),
                    **_mean_or_none(m, LOGGED_FULL_METRICS),
                }
            else:
                out[mode] = {"queries": int(len(m.get("mrr@10", []))), **_mean_or_none(m, RERANK_METRICS)}
        return out


def _candidate_metrics(scores, rel, cand_cols: list[list[int]], rel_cols: list[list[int]]) -> dict | None:
    """Metrics of each query ranking only its candidates (queries with two or more candidates, one of
    them judged; the others are left out); None when no query qualifies."""
    keep = [i for i, (c, r) in enumerate(zip(cand_cols, rel_cols)) if len(c) >= 2 and set(c) & set(r)]
    if not keep:
        return None
    idx = torch.full((len(keep), max(len(cand_cols[i]) for i in keep)), -1, dtype=torch.long)
    for j, i in enumerate(keep):
        idx[j, : len(cand_cols[i])] = torch.tensor(cand_cols[i])
    pad = idx < 0
    s = scores[keep].gather(1, idx.clamp(min=0)).masked_fill(pad, float("-inf"))
    r = rel[keep].gather(1, idx.clamp(min=0)) & ~pad
    return per_query_metrics(s, r)


def _mean_or_none(per_query: dict, keys) -> dict:
    means = mean_metrics(per_query) if per_query else {}
    return {k: means.get(k) for k in keys}
