"""The committed checkpoints' explanations on real data: over every validation query's top 10, the
"shared words" part of a card credits only words both the query and the passage hold, and the parts
add up to the score."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.corpus import split_queries
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.ranker import exact_top
from tests.conftest import demo_corpus

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.mark.parametrize("name", ["random", "hard"])
def test_no_card_credits_a_word_its_passage_does_not_hold(name):
    if not (ARTIFACTS / name / "model.pt").is_file():
        pytest.skip(f"committed checkpoint artifacts/{name}/model.pt is missing")
    corpus = demo_corpus()
    _, val = split_queries(corpus, 0.125)
    engine = DenseRanker(name, ARTIFACTS / name / "model.pt", Catalog(corpus))
    vocab, encoder = engine.vocab, engine.encoder

    def words(text: str, max_len: int) -> set[str]:
        return {vocab.int_to_vocab[i] for i in vocab.encode(text, max_len)}

    text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    queries = [text[q] for q in val]
    scores = encoder.encode_queries(queries).scores(engine.vectors)
    cards, credited_words = 0, 0
    for query, row_scores in zip(queries, scores):
        rows = [r for r, _, _ in exact_top(row_scores, 10)]
        held = words(query, encoder.query_len)
        for row, why in zip(rows, engine.explain(query, rows)):
            credited = {w for w, _ in why.parts[1].words}
            passage = engine.catalog.texts[row]
            assert credited <= held & words(passage, encoder.passage_len), (query, passage, credited)
            assert sum(p.value for p in why.parts) == pytest.approx(float(row_scores[row]), abs=1e-4)
            cards, credited_words = cards + 1, credited_words + len(credited)
    assert cards == 10 * len(queries) and credited_words > cards, "shared words are credited, and often"
