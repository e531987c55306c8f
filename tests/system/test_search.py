"""The searchers (`retrieval.search`): one checkpoint with its Chroma index, BM25 and the hybrid answer one
`search` alike; ranks are exact over the whole corpus, and a passage the approximate index misses
within the top k is shown, marked, rather than leaving a rank with no passage."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis import results
from core.common.config import ModelConfig
from core.common.types import Hit
from core.data.msmarco import build_corpus
from core.model.encoded import Encoded
from core.model.two_tower import TwoTower, save_checkpoint
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.hybrid import Hybrid
from core.retrieval.lexical import Lexical
from core.retrieval.queries import QueryError
from tests.conftest import tiny_rows


@pytest.fixture(scope="module")
def catalog():
    return Catalog(build_corpus(tiny_rows()))


@pytest.fixture(scope="module")
def engine(glove_vocab, catalog, tmp_path_factory):
    """An untrained GRU checkpoint over the tiny corpus (its ranks are arbitrary but exact)."""
    folder = tmp_path_factory.mktemp("search")
    model = TwoTower.from_vocab(ModelConfig(hidden=16, out_dim=16, lexical=True), glove_vocab)
    save_checkpoint(folder / "model.pt", model, glove_vocab, {"data": {"query_len": 32, "passage_len": 64}})
    return DenseRanker("tiny", folder / "model.pt", catalog, chroma_path=folder / "chroma")


def dataset_query(catalog: Catalog) -> str:
    return catalog.corpus.queries.text.iloc[0]


def test_ranks_are_exact_over_the_whole_corpus(engine, catalog):
    query = dataset_query(catalog)
    result = results.search(engine, query, k=5)
    exact = engine.scores([query])[0]
    order = [catalog.pids[r] for r in np.argsort(-exact, kind="stable")[:5]]
    assert [h.pid for h in result.hits] == order and [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert not any(h.missed for h in result.hits)
    assert result.query_id is not None and result.judged is not None and result.judged.judged
    row = catalog.row[result.judged.pid]
    assert result.judged.rank == int((exact >= exact[row]).sum())  # the tie rule of core.retrieval.metrics
    assert result.rank_of(result.judged.pid, row) == result.judged.rank


def test_a_passage_chroma_misses_the_inverted_index_finds(engine, catalog, monkeypatch):
    """Chroma (the dense parts) leaves out the exact #2, which shares a word with the query: the
    inverted index's candidates bring it back, unmarked, at its exact rank."""
    query = "what is the capital of france"
    exact = engine.scores([query])[0]
    top = [catalog.pids[r] for r in np.argsort(-exact, kind="stable")[:6]]
    lost = top[1]
    assert engine.encode_query(query).lexical_scores(engine.vectors)[0][catalog.row[lost]] > 0

    def approximate(vectors, k):
        return [[Hit(pid, float(exact[catalog.row[pid]])) for pid in top if pid != lost][:k]]

    monkeypatch.setattr(engine.live.index, "query", approximate)
    result = results.search(engine, query, k=5)
    assert [h.pid for h in result.hits] == top[:5] and not any(h.missed for h in result.hits)


def nothing_by_words(self, passages):
    """No passage shares a word with the query, as the inverted index sees it."""
    return np.zeros((len(self), len(passages)), np.float32)


def test_a_passage_both_indexes_miss_is_shown_marked_at_its_exact_rank(engine, catalog, monkeypatch):
    query = dataset_query(catalog)
    exact = engine.scores([query])[0]
    top = [catalog.pids[r] for r in np.argsort(-exact, kind="stable")[:6]]
    lost = top[1]  # exact rank 2: the approximate index leaves it out

    def approximate(vectors, k):
        return [[Hit(pid, float(exact[catalog.row[pid]])) for pid in top if pid != lost][:k]]

    monkeypatch.setattr(engine.live.index, "query", approximate)
    monkeypatch.setattr(Encoded, "lexical_scores", nothing_by_words)
    result = results.search(engine, query, k=5)
    assert [h.pid for h in result.hits] == top[:6]  # the index's 5, the missed one in its place
    missed = [h for h in result.hits if h.missed]
    assert [(h.pid, h.rank) for h in missed] == [(lost, 2)]
    if result.judged is not None and result.judged.pid == lost:
        assert result.judged.rank == 2


def test_the_judged_passage_missed_by_the_index_gets_a_card(engine, catalog, monkeypatch):
    query = dataset_query(catalog)
    judged = results.search(engine, query, k=10).judged
    assert judged is not None and judged.rank <= 10

    def approximate(vectors, k):  # every passage but the judged one, in exact order
        exact = engine.scores([query])[0]
        rows = [r for r in np.argsort(-exact, kind="stable") if catalog.pids[r] != judged.pid]
        return [[Hit(catalog.pids[r], float(exact[r])) for r in rows[:k]]]

    monkeypatch.setattr(engine.live.index, "query", approximate)
    monkeypatch.setattr(Encoded, "lexical_scores", nothing_by_words)
    result = results.search(engine, query, k=10)
    cards = {h.pid: h for h in result.hits}
    assert judged.pid in cards and cards[judged.pid].missed and cards[judged.pid].rank == result.judged.rank


def test_every_searcher_answers_the_same_way(engine, catalog):
    lexical = Lexical(catalog)
    hybrid = Hybrid(engine, lexical, weight=0.5)
    query = "what is the capital of france"
    for searcher in (engine, lexical, hybrid):
        result = results.search(searcher, query, k=3)
        assert result.model == searcher.name and 0 < len(result.hits) <= 3
        assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
        scores = [h.score for h in result.hits]
        assert scores == sorted(scores, reverse=True)
    assert results.search(lexical, query, k=3).hits[0].text == "paris is the capital city of france"
    assert hybrid.name == "hybrid:tiny"


def test_queries_that_cannot_be_searched_say_what_to_change(engine):
    for bad in ("", "   ", "x" * 1001, "🙂🙂"):
        with pytest.raises(QueryError):
            results.search(engine, bad)
