"""One IR evaluator for training, the CLI and the app (sentence-transformers style: plain dicts in,
a dict of metrics out).

A *ranker* has `fit(passage_texts)` and `scores(query_texts) -> (Q, N)` over the fitted passages.
Two modes share one scoring pass: *full* ranks every passage; *rerank* ranks each query's own
candidates (queries with at least two candidates, one of them judged).
"""

from __future__ import annotations

import numpy as np
import torch

from core.data import Corpus
from core.encoder import Encoder
from core.metrics import LOGGED_FULL_METRICS, RERANK_METRICS, concat, mean_metrics, per_query_metrics


class DenseRanker:
    """Cosine scores of an `Encoder`'s query and passage vectors."""

    def __init__(self, encoder: Encoder, progress: bool = False):
        self.encoder, self.progress = encoder, progress

    def fit(self, passages: list[str]) -> DenseRanker:
        self.passage_vecs = torch.from_numpy(self.encoder.encode_passages(passages, progress=self.progress))
        return self

    def scores(self, queries: list[str]) -> np.ndarray:
        return (torch.from_numpy(self.encoder.encode_queries(queries)) @ self.passage_vecs.T).numpy()


class IREvaluator:
    def __init__(
        self,
        queries: dict[str, str],
        passages: dict[str, str],
        relevant: dict[str, set[str]],
        candidates: dict[str, list[str]] | None = None,
        chunk: int = 512,
    ):
        self.pids = list(passages)
        self.passage_texts = list(passages.values())
        col = {pid: i for i, pid in enumerate(self.pids)}
        self.qids = [q for q in queries if relevant.get(q, set()) & passages.keys()]
        self.query_texts = [queries[q] for q in self.qids]
        self.rel_cols = [[col[p] for p in relevant[q] if p in col] for q in self.qids]
        cands = candidates or {}
        self.cand_cols = [[col[p] for p in cands.get(q, []) if p in col] for q in self.qids]
        self.chunk = chunk

    @classmethod
    def from_corpus(cls, corpus: Corpus, query_ids: list[str] | None = None) -> IREvaluator:
        ids = set(query_ids) if query_ids is not None else None
        queries = {
            q: t for q, t in zip(corpus.queries.query_id, corpus.queries.text) if ids is None or q in ids
        }
        return cls(queries, corpus.passage_text(), corpus.positives, corpus.candidates)

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

    def __call__(self, ranker, modes=("rerank", "full")) -> dict:
        ranker.fit(self.passage_texts)
        full, rerank = [], []
        for rows, scores, rel in self._chunks(ranker):
            if "full" in modes:
                full.append(per_query_metrics(scores, rel))
            if "rerank" in modes:
                keep = [
                    i
                    for i, r in enumerate(rows)
                    if len(self.cand_cols[r]) >= 2 and set(self.cand_cols[r]) & set(self.rel_cols[r])
                ]
                if keep:
                    width = max(len(self.cand_cols[rows[i]]) for i in keep)
                    idx = torch.full((len(keep), width), -1, dtype=torch.long)
                    for j, i in enumerate(keep):
                        idx[j, : len(self.cand_cols[rows[i]])] = torch.tensor(self.cand_cols[rows[i]])
                    pad = idx < 0
                    s = scores[keep].gather(1, idx.clamp(min=0)).masked_fill(pad, float("-inf"))
                    r = rel[keep].gather(1, idx.clamp(min=0)) & ~pad
                    rerank.append(per_query_metrics(s, r))
        out = {}
        if "rerank" in modes:
            m = concat(rerank)
            out["rerank"] = {"queries": int(len(m.get("mrr@10", []))), **_mean_or_none(m, RERANK_METRICS)}
        if "full" in modes:
            m = concat(full)
            out["full"] = {
                "queries": len(self.qids),
                "corpus": len(self.pids),
                **_mean_or_none(m, LOGGED_FULL_METRICS),
            }
        return out


def _mean_or_none(per_query: dict, keys) -> dict:
    means = mean_metrics(per_query) if per_query else {}
    return {k: means.get(k) for k in keys}
