import math

import torch

from core.metrics import judged_rank, mean_metrics, per_query_metrics, rank_of


def test_metrics_by_hand():
    scores = torch.tensor([
        [0.9, 0.8, 0.7, 0.1],    # relevant at rank 2
        [0.1, 0.2, 0.3, 0.4],    # relevant at ranks 1 and 3
        [0.5, 0.4, 0.3, float("-inf")],   # padded candidate; relevant nowhere in the top (rank 3)
    ])
    rel = torch.tensor([
        [False, True, False, False],
        [False, True, False, True],
        [False, False, True, False],
    ])
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


def test_mrr_cut_at_10():
    scores = torch.arange(20, 0, -1, dtype=torch.float32)[None, :]
    rel = torch.zeros(1, 20, dtype=torch.bool)
    rel[0, 10] = True                     # rank 11
    m = per_query_metrics(scores, rel)
    assert m["mrr@10"].item() == 0 and m["recall@10"].item() == 0 and m["recall@100"].item() == 1
    assert judged_rank(scores, rel).item() == 11


def test_ties_count_against_the_judged_passage():
    scores = torch.tensor([[0.5, 0.5, 0.1]])
    rel = torch.tensor([[False, True, False]])
    assert judged_rank(scores, rel).item() == 2
    assert rank_of(scores[0].numpy(), 1) == 2 == rank_of(scores[0], 0)    # the app's ranks follow the same rule
