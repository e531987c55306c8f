"""IR metrics, batched over queries: every function takes a score matrix (Q, C) and a relevance
matrix (Q, C) over the same candidates, boolean or graded (a candidate's grade, relevant above 0, as a
BEIR qrels score). Padding candidates carry score -inf and are never relevant. Queries without any
relevant candidate must be filtered out by the caller."""

from __future__ import annotations

import torch

CUTOFFS = (1, 5, 10, 100)
RERANK_METRICS = ("mrr@10", "recall@1", "recall@5", "ndcg@10")  # reported for reranking candidates
FULL_METRICS = ("mrr@10", "recall@1", "recall@10", "recall@100")  # reported for ranking the whole corpus
LOGGED_FULL_METRICS = (*FULL_METRICS, "recall@5", "ndcg@10")  # also kept in training logs
COLLECTION_METRICS = ("ndcg@10", "mrr@10", "recall@100")  # a test collection's, BEIR's headline first


def per_query_metrics(scores: torch.Tensor, relevant: torch.Tensor) -> dict[str, torch.Tensor]:
    """MRR@10, Recall@{1,5,10,100} and nDCG@10, each a (Q,) tensor. nDCG's gains are the grades (BEIR's
    convention, as trec_eval: linear gains, the ideal ranking of every judged grade); boolean relevance
    is grade 1."""
    scores, grades = (
        torch.as_tensor(scores, dtype=torch.float32),
        torch.as_tensor(relevant).float().clamp(min=0),
    )
    relevant = grades > 0
    k = min(max(CUTOFFS), scores.shape[1])
    top = scores.topk(k, dim=1).indices  # (Q, k) best first
    hits = relevant.gather(1, top).float()  # (Q, k) 1 where a relevant passage sits
    n_rel = relevant.sum(1).float()  # (Q,)
    first = torch.where(hits[:, :10].any(1), hits[:, :10].argmax(1), -1)  # first hit in top 10, or -1
    out = {"mrr@10": torch.where(first >= 0, 1.0 / (first + 1).float(), torch.zeros_like(n_rel))}
    for c in CUTOFFS:
        out[f"recall@{c}"] = hits[:, :c].sum(1) / n_rel
    out["ndcg@10"] = _dcg10(grades.gather(1, top)) / _dcg10(
        grades.topk(min(10, grades.shape[1]), dim=1).values
    )
    return out


def _dcg10(gains: torch.Tensor) -> torch.Tensor:
    """(Q,) discounted cumulative gain of each row's first 10 gains, in rank order."""
    top10 = gains[:, :10]
    return (top10 / torch.log2(torch.arange(2, 2 + top10.shape[1], dtype=torch.float32))).sum(1)


def judged_rank(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """1-based rank of the best-scored relevant candidate in each row; a tie with a non-relevant
    candidate counts against it."""
    scores, relevant = (
        torch.as_tensor(scores, dtype=torch.float32),
        torch.as_tensor(relevant, dtype=torch.bool),
    )
    best = scores.masked_fill(~relevant, float("-inf")).max(1).values
    return ((scores >= best[:, None]) & ~relevant).sum(1) + 1


def rank_of(scores, index: int) -> int:
    """1-based rank of candidate `index` in a 1-d score vector, a tie counting against it as in
    `judged_rank`."""
    return int((scores >= scores[index]).sum())


def mean_metrics(per_query: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: round(float(v.mean()), 4) if len(v) else None for name, v in per_query.items()}


def concat(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]} if parts else {}
