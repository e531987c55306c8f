"""Hard-negative mining: what it keeps, and the sources and filters of the build's options."""

import pytest

from core.common.config import BuildConfig
from core.data.corpus import split_queries
from core.data.msmarco import build_corpus
from core.data.triplets import negative_pool
from core.model.encoder import Encoder
from core.retrieval.vectors import ExactIndex
from core.training.mining import mine_negatives, mining_stats
from tests.conftest import tiny_rows


@pytest.fixture(scope="module")
def setup(glove_vocab):
    rows = tiny_rows()
    rows[0]["passages"]["passage_text"].append("a brand new candidate passage about coffee roasting")
    rows[0]["passages"]["is_selected"].append(0)
    corpus = build_corpus(rows)
    train, val = split_queries(corpus, 0.3)
    encoder = Encoder.glove_average(glove_vocab)
    index = ExactIndex()
    index.add(list(corpus.passages.pid), encoder.encode_passages(list(corpus.passages.text)))
    return corpus, train, val, encoder, index


def mine(setup, **settings):
    corpus, train, val, encoder, index = setup
    cfg = BuildConfig(mine_depth=12, mine_keep=4, **settings)
    return mine_negatives(encoder, index, corpus, train, set(negative_pool(corpus, val)), cfg, progress=False)


def test_mined_negatives_are_never_positives_nor_held_out(setup):
    corpus, train, val, *_ = setup
    held_out = set().union(*(corpus.positives[q] for q in val))
    mined = mine(setup)
    assert set(mined) == set(train) and mining_stats(mined)["queries"] == len(train)
    for q, negs in mined.items():
        assert 0 < len(negs) <= 4 and not set(negs) & (corpus.positives[q] | held_out)


def test_file_negatives_add_the_querys_own_candidates(setup):
    corpus, train, val, *_ = setup
    q = next(q for q in train if len(corpus.candidates[q]) > 3)
    plain, with_file = mine(setup)[q], mine(setup, file_negatives=True)[q]
    pool = set(negative_pool(corpus, val))
    own = [p for p in corpus.candidates[q] if p not in corpus.positives[q]]
    assert own and set(own) & pool <= set(with_file) and not (set(own) - pool) & set(with_file)
    assert set(with_file) and with_file[: len(plain)] == plain
    assert not set(with_file) & corpus.positives[q]


def test_drop_above_positive_removes_what_outscores_the_positive(setup):
    corpus, train, _, encoder, index = setup
    texts = dict(zip(corpus.queries.query_id, corpus.queries.text))
    kept = mine(setup, drop_above_positive=True)
    for q, negs in kept.items():
        qv = encoder.encode_queries([texts[q]])
        best = qv.scores(index.get_vectors(sorted(corpus.positives[q]))).max()
        assert (qv.scores(index.get_vectors(negs)) <= best + 1e-6).all()
    assert sum(map(len, kept.values())) < sum(map(len, mine(setup).values()))
