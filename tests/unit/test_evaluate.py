"""core.retrieval.evaluate.IREvaluator's metrics, by hand, with a ranker whose scores the test sets."""

from __future__ import annotations

import math

import numpy as np

from core.retrieval.catalog import Passages
from core.retrieval.evaluate import IREvaluator
from core.retrieval.ranker import Ranker

PIDS = [f"p{i}" for i in range(1, 13)]  # 12 passages: a rank of 12 is past the cut at 10
PASSAGES = {pid: f"text of {pid}" for pid in PIDS}


def row(**scores: float) -> list[float]:
    """A score for each of the 12 passages, 0 for those not named."""
    return [scores.get(pid, 0.0) for pid in PIDS]


# Each query's scores over p1..p12, in order; q4 and q5 have none: scoring them would be a KeyError.
SCORES = {
    "q1": row(p5=0.9, p1=0.8, p2=0.7, p3=0.1),  # judged p1: 2nd of all, 1st of its candidates
    "q2": row(p3=0.95, p1=0.9, p4=0.85, p2=0.8),  # judged p2, p3: 1st and 4th of all, 1st and 3rd of theirs
    "q3": row(**{f"p{i}": 1.0 - 0.01 * (i - 1) for i in range(1, 12)}, p12=0.5),  # judged p12: 12th; 2nd of 2
    "q6": row(p6=1.0),  # judged p6: 1st, but a single candidate
}
QUERIES = {q: f"question {q}" for q in ("q1", "q2", "q3", "q4", "q5", "q6")}
RELEVANT = {"q1": {"p1"}, "q2": {"p2", "p3"}, "q3": {"p12"}, "q4": set(), "q5": {"p99"}, "q6": {"p6"}}
CANDIDATES = {
    "q1": ["p1", "p2", "p3"],
    "q2": ["p2", "p4", "p3"],
    "q3": ["p12", "p11"],
    "q4": ["p1", "p2"],
    "q5": ["p1", "p2"],
    "q6": ["p6"],
}


class TableRanker(Ranker):
    """Scores looked up by query text; remembers what it was fitted on (how often) and asked."""

    name = "table"

    def __init__(self, scores: dict[str, list[float]]):
        self.by_text = {QUERIES[q]: s for q, s in scores.items()}
        self.fitted, self.asked, self.fits = None, [], 0

    def _fit(self, passages: Passages) -> None:
        self.fitted, self.fits = list(passages.texts), self.fits + 1

    def scores(self, queries: list[str]) -> np.ndarray:
        self.asked += queries
        return np.array([self.by_text[q] for q in queries], dtype=np.float64)


def d(rank: int) -> float:
    """The discounted gain of a relevant passage at `rank`."""
    return 1 / math.log2(rank + 1)


def evaluate(chunk: int = 512, modes=("rerank", "full"), **kwargs):
    ranker = TableRanker(SCORES)
    args = {
        "queries": QUERIES,
        "passages": PASSAGES,
        "relevant": RELEVANT,
        "candidates": CANDIDATES,
        **kwargs,
    }
    return IREvaluator(**args, chunk=chunk)(ranker, modes=modes), ranker


def test_full_mode_ranks_every_passage():
    out, ranker = evaluate()
    full = out["full"]
    # q1: rank 2; q2: ranks 1 and 4 of 2 judged; q3: rank 12; q6: rank 1. q4 (nothing judged) and q5
    # (judged passage not in the corpus) are not scored at all.
    assert (full["queries"], full["corpus"]) == (4, 12)
    assert full["mrr@10"] == (1 / 2 + 1 + 0 + 1) / 4 == 0.625
    assert full["recall@1"] == (0 + 1 / 2 + 0 + 1) / 4 == 0.375
    assert full["recall@5"] == full["recall@10"] == (1 + 1 + 0 + 1) / 4 == 0.75
    assert full["recall@100"] == 1.0  # q3's passage is found, only below the cut
    ndcg = (d(2) + (d(1) + d(4)) / (d(1) + d(2)) + 0 + 1) / 4
    assert full["ndcg@10"] == round(ndcg, 4) == 0.627
    assert ranker.fitted == list(PASSAGES.values())
    assert ranker.asked == [QUERIES[q] for q in ("q1", "q2", "q3", "q6")]


def test_rerank_mode_ranks_each_querys_own_candidates():
    out, _ = evaluate()
    rerank = out["rerank"]
    # q1: 1st of [p1, p2, p3]; q2: 1st and 3rd of [p2, p4, p3]; q3: 2nd of [p12, p11] (padded to 3);
    # q6 has one candidate, so nothing to rerank.
    assert set(rerank) == {"queries", "mrr@10", "recall@1", "recall@5", "ndcg@10"}
    assert rerank["queries"] == 3
    assert rerank["mrr@10"] == round((1 + 1 + 1 / 2) / 3, 4) == 0.8333
    assert rerank["recall@1"] == (1 + 1 / 2 + 0) / 3 == 0.5
    assert rerank["recall@5"] == 1.0
    ndcg = (1 + (d(1) + d(3)) / (d(1) + d(2)) + d(2)) / 3
    assert rerank["ndcg@10"] == round(ndcg, 4) == 0.8502


def test_chunks_and_modes_change_nothing_but_what_is_reported():
    whole, _ = evaluate()
    one_by_one, _ = evaluate(chunk=1)  # q6's chunk has no query to rerank
    assert one_by_one == whole
    full_only, ranker = evaluate(modes=("full",))
    assert full_only == {"full": whole["full"]} and len(ranker.asked) == 4
    assert evaluate(modes=("rerank",))[0] == {"rerank": whole["rerank"]}


def test_nothing_to_score_gives_counts_of_zero_and_no_metrics():
    out, ranker = evaluate(relevant={"q4": set(), "q5": {"p99"}})
    assert out["full"] == {
        "queries": 0,
        "corpus": 12,
        "mrr@10": None,
        "recall@1": None,
        "recall@10": None,
        "recall@100": None,
        "recall@5": None,
        "ndcg@10": None,
    }
    assert out["rerank"] == {
        "queries": 0,
        "mrr@10": None,
        "recall@1": None,
        "recall@5": None,
        "ndcg@10": None,
    }
    assert ranker.asked == [] and ranker.fitted == list(PASSAGES.values())


def test_without_candidates_only_the_full_mode_has_queries():
    out, _ = evaluate(candidates=None)
    assert out["rerank"]["queries"] == 0 and out["rerank"]["mrr@10"] is None
    assert out["full"]["queries"] == 4 and out["full"]["mrr@10"] == 0.625


def test_rerank_leaves_out_a_query_none_of_whose_candidates_is_judged():
    """q7's judged passage is in the corpus but not among its candidates: reranking them cannot find
    it, so the query is not a rerank query (it used to count, with recall NaN)."""
    queries = {"q1": QUERIES["q1"], "q7": "question q7"}
    scores = {"q1": SCORES["q1"]}
    ranker = TableRanker(scores)
    ranker.by_text["question q7"] = row(p1=0.9, p2=0.8, p9=0.1)
    out = IREvaluator(
        queries, PASSAGES, {"q1": {"p1"}, "q7": {"p9"}}, {"q1": CANDIDATES["q1"], "q7": ["p1", "p2"]}
    )(ranker)
    assert (
        out["rerank"]["queries"] == 1 and out["rerank"]["mrr@10"] == 1.0 and out["rerank"]["recall@1"] == 1.0
    )
    assert out["full"]["queries"] == 2


def test_bm25_hard_candidates_are_the_judged_passages_and_bm25s_best_others():
    from core.retrieval.evaluate import bm25_hard_candidates

    passages = {
        "a": "the capital of france is paris",
        "b": "paris is a city in france",
        "c": "france borders spain",
        "d": "bananas are yellow",
        "e": "the capital of italy is rome",
    }
    cands = bm25_hard_candidates({"q": "capital of france"}, passages, {"q": {"c"}}, depth=2)
    # judged c first; then BM25's two best other passages (a holds both words, b or e one of them);
    # d shares no word and is never a candidate
    assert cands["q"][0] == "c" and cands["q"][1] == "a" and len(cands["q"]) == 3
    assert "d" not in bm25_hard_candidates({"q": "capital of france"}, passages, {"q": {"c"}}, depth=10)["q"]


def test_bm25_hard_mode_ranks_the_judged_passage_among_its_bm25_candidates():
    passages = {f"p{i}": f"apple banana {'cherry ' * i}" for i in range(1, 30)}
    queries = {"q": "cherry"}
    ranker = TableRanker({})
    # scores that put the judged p1 2nd overall; among its candidates (p1 + BM25's 20 best others) 2nd too
    ranker.by_text = {"cherry": [1.0 if pid == "p29" else 0.9 if pid == "p1" else 0.0 for pid in passages]}
    out = IREvaluator(queries, passages, {"q": {"p1"}})(ranker, modes=("full", "bm25_hard"))
    assert out["bm25_hard"]["queries"] == 1 and out["bm25_hard"]["mrr@10"] == 0.5
    ranker.by_text = {"cherry": [1.0 if pid == "p2" else 0.9 if pid == "p1" else 0.0 for pid in passages]}
    # p2 has the fewest cherries: BM25 ranks it below 20 others, so it is no candidate and p1 is 1st
    out = IREvaluator(queries, passages, {"q": {"p1"}})(ranker, modes=("bm25_hard",))
    assert out["bm25_hard"]["mrr@10"] == 1.0


def test_a_ranker_fitted_on_the_same_passages_is_scored_as_it_is_and_ranks_match_metrics():
    """Evaluating twice (or a ranker the app fitted already) fits once; `ranks` gives each query's
    judged rank over every passage, the ranks behind full-mode MRR@10."""
    evaluator = IREvaluator(QUERIES, PASSAGES, RELEVANT, CANDIDATES)
    ranker = TableRanker(SCORES)
    full = evaluator(ranker, modes=("full",))["full"]
    ranks = evaluator.ranks(ranker)
    assert ranker.fits == 1
    assert ranks == {"q1": 2, "q2": 1, "q3": 12, "q6": 1}
    assert full["mrr@10"] == round(sum(1 / r if r <= 10 else 0 for r in ranks.values()) / 4, 4)
    ranker.fit(Passages(list(PASSAGES), [t + " changed" for t in PASSAGES.values()]))
    assert ranker.fits == 2, "other passages: fitted again"
