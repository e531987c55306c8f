"""core.retrieval.metrics by hand and by property: agreement with the judged rank, ExactIndex's order."""

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.model.encoded import Encoded
from core.retrieval.metrics import judged_rank, mean_metrics, per_query_metrics, rank_of
from core.retrieval.vectors import ExactIndex


def test_metrics_by_hand():
    scores = torch.tensor(
        [
            [0.9, 0.8, 0.7, 0.1],  # relevant at rank 2
            [0.1, 0.2, 0.3, 0.4],  # relevant at ranks 1 and 3
            [0.5, 0.4, 0.3, float("-inf")],  # padded candidate; relevant nowhere in the top (rank 3)
        ]
    )
    rel = torch.tensor(
        [
            [False, True, False, False],
            [False, True, False, True],
            [False, False, True, False],
        ]
    )
    m = per_query_metrics(scores, rel)
    assert torch.allclose(m["mrr@10"], torch.tensor([0.5, 1.0, 1 / 3]))
    assert torch.allclose(m["recall@1"], torch.tensor([0.0, 0.5, 0.0]))
    assert torch.allclose(m["recall@5"], torch.tensor([1.0, 1.0, 1.0]))

    def d(x):
        return 1 / math.log2(x)

    ndcg = [d(3) / 1, (1 + d(4)) / (1 + d(3)), d(4) / 1]
    assert torch.allclose(m["ndcg@10"], torch.tensor(ndcg), atol=1e-6)
    assert torch.equal(judged_rank(scores, rel), torch.tensor([2, 1, 3]))
    assert mean_metrics(m)["mrr@10"] == round((0.5 + 1 + 1 / 3) / 3, 4)


def test_ndcg_gains_are_the_grades_by_hand():
    """Graded relevance (BEIR qrels): nDCG@10's gain is the grade, its ideal ranks every graded
    candidate best first; MRR and recall count any grade above 0 as relevant."""
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.9, 0.8, 0.7, 0.1]])
    grades = torch.tensor([[0, 3, 1, 2], [0, 1, 0, 0]])

    def d(x):
        return 1 / math.log2(x)

    m = per_query_metrics(scores, grades)
    ndcg = [(3 * d(3) + 1 * d(4) + 2 * d(5)) / (3 + 2 * d(3) + 1 * d(4)), d(3)]
    assert torch.allclose(m["ndcg@10"], torch.tensor(ndcg), atol=1e-6)
    assert torch.allclose(m["mrr@10"], torch.tensor([0.5, 0.5]))
    assert torch.allclose(m["recall@1"], torch.tensor([0.0, 0.0])) and m["recall@5"].eq(1).all()
    assert torch.equal(m["ndcg@10"][1], per_query_metrics(scores, grades > 0)["ndcg@10"][1])


def test_mrr_cut_at_10():
    scores = torch.arange(20, 0, -1, dtype=torch.float32)[None, :]
    rel = torch.zeros(1, 20, dtype=torch.bool)
    rel[0, 10] = True  # rank 11
    m = per_query_metrics(scores, rel)
    assert m["mrr@10"].item() == 0 and m["recall@10"].item() == 0 and m["recall@100"].item() == 1
    assert judged_rank(scores, rel).item() == 11


def test_ties_count_against_the_judged_passage():
    scores = torch.tensor([[0.5, 0.5, 0.1]])
    rel = torch.tensor([[False, True, False]])
    assert judged_rank(scores, rel).item() == 2
    assert rank_of(scores[0].numpy(), 1) == 2 == rank_of(scores[0], 0)  # the app's ranks follow the same rule


# --- properties (hypothesis) ----------------------------------------------------------------------


@st.composite
def rankings(draw):
    """(scores, relevance) for Q queries over C candidates, distinct scores, at least one relevant each."""
    q, c = draw(st.integers(1, 6)), draw(st.integers(1, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = np.stack([rng.permutation(c) for _ in range(q)]).astype(np.float32)
    rel = rng.random((q, c)) < draw(st.floats(0.0, 0.5))
    rel[np.arange(q), rng.integers(0, c, q)] = True
    return torch.from_numpy(scores), torch.from_numpy(rel)


@settings(max_examples=200, deadline=None)
@given(rankings())
def test_metrics_agree_with_the_judged_rank_and_stay_in_range(ranking):
    scores, rel = ranking
    m, rank = per_query_metrics(scores, rel), judged_rank(scores, rel)
    expected_mrr = torch.where(rank <= 10, 1.0 / rank.float(), torch.zeros_like(rank, dtype=torch.float32))
    assert torch.allclose(m["mrr@10"], expected_mrr)
    assert torch.equal(m["recall@1"] > 0, rank == 1)
    for name, v in m.items():
        assert ((v >= 0) & (v <= 1 + 1e-6)).all(), name
    assert (m["recall@1"] <= m["recall@5"]).all() and (m["recall@5"] <= m["recall@10"]).all()
    assert (m["recall@10"] <= m["recall@100"]).all()
    shifted = per_query_metrics(scores * 3 + 7, rel)  # a monotone change of scores changes nothing
    assert all(torch.allclose(shifted[k], m[k]) for k in m)


@given(rankings())
def test_exact_index_returns_the_metrics_order(ranking):
    scores, _ = ranking
    for row in scores:  # 1-d "vectors" whose product with [1] is the score
        index = ExactIndex()
        index.add([str(i) for i in range(len(row))], Encoded.of_dense(row[:, None].numpy()))
        k = min(10, len(row))
        assert [int(h.docid) for h in index.query(Encoded.of_dense(np.ones((1, 1))), k)[0]] == row.topk(
            k
        ).indices.tolist()
