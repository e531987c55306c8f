"""Random and hard triplets: no negative is a positive, validation positives stay out, one per positive."""

import numpy as np

from core.data.corpus import split_queries
from core.data.msmarco import build_corpus
from core.data.triplets import hard_triplets, negative_pool, random_triplets
from tests.conftest import tiny_rows


def multi_positive_corpus():
    rows = tiny_rows()
    for r in rows[:6]:
        r["passages"]["is_selected"] = [1, 1, 0]  # two positives each
    return build_corpus(rows)


def test_no_negative_is_a_positive():
    c = multi_positive_corpus()
    train, val = split_queries(c, 0.2)
    pool = negative_pool(c, val)
    rng = np.random.default_rng(0)
    for _ in range(200):
        for q, pos, neg in random_triplets(c, train, pool, rng):
            assert pos in c.positives[q]
            assert neg not in c.positives[q]


def test_validation_positives_never_in_pool():
    c = multi_positive_corpus()
    train, val = split_queries(c, 0.3)
    pool = set(negative_pool(c, val))
    assert val and not pool & set().union(*(c.positives[q] for q in val))


def test_one_triplet_per_positive():
    c = multi_positive_corpus()
    qids = list(c.candidates)
    triplets = random_triplets(c, qids, negative_pool(c, []), np.random.default_rng(0))
    assert len(triplets) == sum(len(c.positives[q]) for q in qids)
    first = qids[0]
    assert {p for q, p, _ in triplets if q == first} == c.positives[first]


def test_hard_triplets_drop_positives_and_mix():
    c = multi_positive_corpus()
    qids = list(c.candidates)
    pool = negative_pool(c, [])
    # a mined list that (wrongly) contains a positive: it must never be used
    mined = {
        q: sorted(c.positives[q]) + [p for p in c.candidates[q] if p not in c.positives[q]] for q in qids
    }
    rng = np.random.default_rng(1)
    for _ in range(50):
        for q, _, neg in hard_triplets(c, qids, mined, pool, rng, random_mix=0.0):
            assert neg not in c.positives[q] and neg in mined[q]
    mixed = hard_triplets(c, qids * 50, mined, pool, rng, random_mix=1.0)
    assert any(neg not in mined[q] for q, _, neg in mixed)


def test_several_negatives_per_query_are_distinct_mined_ones_while_they_last():
    c = multi_positive_corpus()
    qids = list(c.candidates)
    pool = negative_pool(c, [])
    mined = {q: [p for p in c.passages.pid if p not in c.positives[q]][:3] for q in qids}
    rng = np.random.default_rng(3)
    for q, _, *negs in hard_triplets(c, qids, mined, pool, rng, k=3):
        assert sorted(negs) == sorted(mined[q])  # all three, each once
    for q, _, *negs in hard_triplets(c, qids, mined, pool, rng, k=5):
        assert len(negs) == 5 and set(negs) == set(mined[q])  # fewer mined than asked: repeated
    for q, _, *negs in random_triplets(c, qids, pool, rng, k=4):
        assert len(negs) == 4 and not set(negs) & c.positives[q]
