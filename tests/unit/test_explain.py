"""Explaining a score (`Ranker.explain`): every kind of ranker takes its own score apart into parts
that add up to it, to rounding, and each part into the words it owes to, words that query and passage
both hold; the model's batch-local vectors (`joint`) score as its encoder's do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis import results
from core.common.config import ModelConfig
from core.data.collate import pad
from core.data.msmarco import build_corpus
from core.model.encoder import Encoder
from core.model.two_tower import TwoTower, joint, save_checkpoint
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.hybrid import Hybrid
from core.retrieval.lexical import Lexical
from tests.conftest import TOPICS, tiny_rows

# a repeated word, an unknown one, only unknown ones (a Confused query may be so; nothing to explain but
# the dense part of <unk>)
QUERIES = ["what is the capital of france", "coffee espresso coffee", "qwzxv moon", "qwzxv blorftangle"]


@pytest.fixture(scope="module")
def catalog():
    return Catalog(build_corpus(tiny_rows()))


def checkpoint(vocab, folder, lexical: bool, tower: str = "gru"):
    """An untrained checkpoint whose term weights start at the corpus IDF (shared words weigh)."""
    torch.manual_seed(0)
    cfg = ModelConfig(tower=tower, hidden=16, out_dim=16, lexical=lexical)
    passages = [vocab.encode(t, 64) for ts in TOPICS.values() for t in ts]
    model = TwoTower.from_vocab(cfg, vocab, idf=vocab.idf(passages) if lexical else None)
    save_checkpoint(folder / "model.pt", model, vocab, {"data": {"query_len": 32, "passage_len": 64}})
    return folder / "model.pt"


@pytest.fixture(scope="module", params=[True, False], ids=["lexical", "dense only"])
def engine(request, glove_vocab, catalog, tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    return DenseRanker("tiny", checkpoint(glove_vocab, folder, request.param), catalog, folder / "chroma")


@pytest.fixture(scope="module")
def lexical(catalog):
    return Lexical(catalog)


def assert_adds_up(ranker, query: str) -> list:
    """Every passage's explanation: its score is the ranker's, its parts add up to it, and each
    part's words (and what no word owns) add up to the part."""
    rows = list(range(len(ranker.catalog)))
    found = ranker.explain(query, rows)
    scores = ranker.scores([query])[0]
    for row, e in zip(rows, found):
        assert e.unit == ranker.unit
        assert e.score == pytest.approx(float(scores[row]), abs=1e-5)
        assert sum(p.value for p in e.parts) == pytest.approx(e.score, abs=1e-5)
        for part in e.parts:
            if part.words:
                assert sum(v for _, v in part.words) == pytest.approx(part.value, abs=1e-9)
            assert [v for _, v in part.words] == sorted((v for _, v in part.words), reverse=True)
    return found


@pytest.mark.parametrize("query", QUERIES)
def test_a_checkpoints_cosine_is_meaning_plus_shared_words(engine, query):
    found = assert_adds_up(engine, query)
    assert all([p.label for p in e.parts] == ["meaning", "shared words"] for e in found)
    row = engine.catalog.texts.index(TOPICS["paris"][0])  # shares "capital", "france" with the query
    words = dict(found[row].parts[1].words)
    lexical_path = engine.encoder.model.cfg.lexical
    if query == QUERIES[0] and lexical_path:
        assert {"capital", "france"} <= set(words) and words["france"] > 0
    if not lexical_path:
        assert all(e.parts[1].value == 0 and not e.parts[1].words for e in found)


@pytest.mark.parametrize("query", QUERIES)
def test_a_credited_word_is_in_the_query_and_in_the_passage(engine, query):
    """Each word the lexical part credits is a word of the query's tokens and of the passage's (as the
    model reads them: the first passage_len tokens), never another word's stand-in."""
    vocab, encoder = engine.vocab, engine.encoder

    def words(text: str, max_len: int) -> set[str]:
        return {vocab.int_to_vocab[i] for i in vocab.encode(text, max_len)}

    held = words(query, encoder.query_len)
    for text, e in zip(engine.catalog.texts, assert_adds_up(engine, query)):
        credited = {w for w, _ in e.parts[1].words}
        assert credited <= held & words(text, encoder.passage_len), (text, credited)


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_is_the_sum_of_its_terms(lexical, query):
    found = assert_adds_up(lexical, query)
    row = lexical.catalog.texts.index(TOPICS["coffee"][1])  # "espresso is strong coffee brewed…"
    if query == QUERIES[1]:
        words = dict(found[row].parts[0].words)
        assert set(words) == {"coffee", "espresso"}
        one = lexical.bm25.explain("coffee", [row])[0]["coffee"]
        assert words["coffee"] == pytest.approx(2 * one), "a repeated word counts each time, as in BM25"


@pytest.mark.parametrize("query", QUERIES)
def test_a_hybrid_is_its_two_weighted_parts(engine, lexical, query):
    hybrid = Hybrid(engine, lexical, 0.6)
    found = assert_adds_up(hybrid, query)
    sources = [p.source for p in found[0].parts]
    if not hybrid.reads(query):  # no word the checkpoint knows: the hybrid is its BM25 half alone
        assert len(sources) == 1 and sources[0].startswith("bm25 × 0.4 ÷ ")
        return
    assert sources[0] == sources[1] == "tiny × 0.6" and sources[2].startswith("bm25 × 0.4 ÷ ")
    plain = engine.explain(query, list(range(len(engine.catalog))))
    for e, d in zip(found, plain):
        assert e.parts[0].value + e.parts[1].value == pytest.approx(0.6 * d.score, abs=1e-6)


def test_nothing_to_explain_is_no_explanation(engine, lexical):
    for ranker in (engine, lexical, Hybrid(engine, lexical, 0.6)):
        assert ranker.explain(QUERIES[0], []) == []
    no_match = results.search(lexical, "qwzxv blorftangle", 3)
    assert not no_match.hits and results.explain_result(lexical, no_match) == {}


def test_units_come_from_the_ranker(engine, lexical):
    hybrid = Hybrid(engine, lexical, 0.6)
    assert [r.unit for r in (engine, lexical, hybrid)] == ["cos", "bm25", "fused"]
    for ranker in (engine, lexical, hybrid):
        result = results.search(ranker, QUERIES[0], 3)
        assert result.unit == ranker.unit
        explained = results.explain_result(ranker, result)
        assert set(explained) == {h.pid for h in result.hits} | (
            {result.judged.pid} if result.judged else set()
        )
        assert all(explained[h.pid].score == pytest.approx(h.score, abs=1e-5) for h in result.hits)


def test_the_batch_vectors_score_as_the_encoder_does(glove_vocab):
    """Training scores a batch in the space of the words it holds (`joint`); those dot products are
    the encoder's exact scores (dense parts plus the sparse lexical parts), for every tower."""
    queries, passages = ["paris france", "coffee coffee beans"], ["paris is in france", "the moon orbits"]
    for lexical, tower in ((True, "gru"), (False, "gru"), (True, "avg")):
        torch.manual_seed(0)
        model = TwoTower.from_vocab(
            ModelConfig(tower=tower, hidden=16, out_dim=16, lexical=lexical), glove_vocab
        )
        encoder = Encoder(model, glove_vocab, 32, 64)
        q_ids, p_ids = (
            pad([glove_vocab.encode(t, 32) for t in queries]),
            pad([glove_vocab.encode(t, 64) for t in passages]),
        )
        with torch.no_grad():
            qv, pv = joint(model.encode_query(*q_ids), model.encode_passage(*p_ids))
        assert np.allclose(qv.norm(dim=1), 1, atol=1e-5) and np.allclose(pv.norm(dim=1), 1, atol=1e-5)
        exact = encoder.encode_queries(queries).scores(encoder.encode_passages(passages))
        assert np.allclose((qv @ pv.T).numpy(), exact, atol=1e-5)


def test_a_hybrid_answers_with_bm25_where_its_checkpoint_knows_no_word(catalog, lexical, tmp_path):
    """A checkpoint that knows only the coffee words: a query about paris is answered by BM25 alone
    (said so), every score still explained; a query no half can read is refused as the checkpoint
    refuses it."""
    from core.data.vocab import Vocab
    from core.retrieval.queries import QueryError

    vocab = Vocab.for_texts([*TOPICS["coffee"], "warm up"], top_n=50)  # the engine warms up with "warm up"
    engine = DenseRanker("coffee", checkpoint(vocab, tmp_path, True), catalog, tmp_path / "chroma")
    hybrid = Hybrid(engine, lexical, 0.6)
    with pytest.raises(QueryError):
        results.search(engine, "paris capital", 3)
    result = results.search(hybrid, "paris capital", 3)
    assert result.hits and all("paris" in h.text for h in result.hits)
    assert "bm25 half alone" in result.notice
    assert_adds_up(hybrid, "paris capital")
    with pytest.raises(QueryError, match="vocabulary"):
        results.search(hybrid, "qwzxv blorftangle", 3)
