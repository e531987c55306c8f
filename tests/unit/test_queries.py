"""The pure parts the pages rely on: query checks and tokens (retrieval.queries), highlighting, the corpus's
no-answer check (core.retrieval.catalog), readable examples, and the Home table (views.parts.headline)."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.vocab import Vocab
from core.retrieval.catalog import Catalog, no_answer
from core.retrieval.queries import QueryError, highlight, query_tokens, readable, stem, validate_query
from tests.conftest import TOPICS, tiny_rows
from views.parts.headline import design_sentence, fitted_on_note, metrics_note, metrics_rows


@pytest.fixture(scope="module")
def small_vocab():
    words = ["<pad>", "<unk>", "what", "is", "the", "capital", "of", "france", "19", "related", "?"]
    return Vocab(words, np.zeros((len(words), 2), dtype=np.float32))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Type a question"),
        ("  \n\t ", "Type a question"),
        ("capital " * 200, "at most 1,000 characters"),
        ("qwzxv blorft", "vocabulary"),
        ("😀🙂", "vocabulary"),
        ("???", "vocabulary"),
    ],
)
def test_validate_query_refuses_with_a_friendly_message(text, message, small_vocab):
    with pytest.raises(QueryError, match=message):
        validate_query(text, small_vocab)


def test_validate_query_accepts_and_tidies(small_vocab):
    assert (
        validate_query("  What is\tthe capital of 😀 France? ", small_vocab)
        == "What is the capital of 😀 France?"
    )
    assert validate_query("x" * 1000) == "x" * 1000  # without a vocabulary only emptiness and length count


def test_query_tokens_mark_unknown_words_and_the_cut(small_vocab):
    tokens, dropped = query_tokens(small_vocab, "covid-19-related capital of qwzxv France", max_len=4)
    assert [(t.text, t.known) for t in tokens] == [
        ("19", True),
        ("related", True),
        ("capital", True),
        ("of", True),
    ]
    assert dropped == 2
    tokens, _ = query_tokens(small_vocab, "qwzxv 😀")
    assert [t.known for t in tokens] == [False, False]


def test_highlight_marks_query_words_and_the_forms_bm25_matches_them_in():
    """Whole words only, and a word in another form where BM25 counts it as the same term (its
    Snowball stem): "capitals" for "capital", "runs" for "running", never "category" for "cat"."""
    pieces = highlight(
        "Paris is the capital of France; capitals <b>vary</b>.", "What is the capital of france?"
    )
    assert [p for p, hit in pieces if hit] == ["capital", "France", "capitals"]
    assert "".join(p for p, _ in pieces) == "Paris is the capital of France; capitals <b>vary</b>."
    text = "A cat runs; cats ran into the category of T-cells, the runner's cell."
    pieces = highlight(text, "the running cat cells")
    assert [p for p, hit in pieces if hit] == ["cat", "runs", "cats", "cells", "cell"]
    assert "".join(p for p, _ in pieces) == text


def test_no_answer_when_the_passages_found_never_mention_the_query():
    from core.data.msmarco import build_corpus

    catalog = Catalog(build_corpus(tiny_rows()))
    rows = {topic: [catalog.pids[catalog.texts.index(t)] for t in texts] for topic, texts in TOPICS.items()}
    assert no_answer(catalog, "where do pythons live", rows["python"]) is None  # "pythons" is "python"
    assert no_answer(catalog, "snakes", rows["python"]) is None  # "snakes" is "snake"
    assert no_answer(catalog, "the capital of france", rows["paris"] + rows["rain"]) is None
    missed = no_answer(catalog, "where do pythons live", rows["coffee"])
    assert missed.words == ["pythons", "live"] and missed.unknown == ["live"]  # in no passage
    typo = no_answer(catalog, "what is the capitall of australia", rows["paris"])
    assert typo.unknown == ["capitall", "australia"]
    assert no_answer(catalog, "what is the", rows["coffee"]) is None  # no content word: nothing to say


def test_stems_match_plurals_and_verb_forms():
    assert {stem(w) for w in ("egg", "eggs")} == {"egg"} and stem("boiled") == stem("boiling") == "boil"
    assert stem("symptoms") == "symptom" and stem("studies") == "study" and stem("glasses") == "glass"
    assert stem("bake") == stem("baked") and stem("is") == "is"


def test_examples_are_readable_questions(small_vocab):
    assert readable("what is the capital of france", small_vocab)
    assert not readable("3/5 of 60", small_vocab) and not readable("the capital of france", small_vocab)
    assert not readable("what is the qwzxv", small_vocab) and not readable("what is", small_vocab)


def test_metrics_rows_tolerate_missing_and_partial_metrics():
    assert [r["model"] for r in metrics_rows({})] == [
        "glove-avg",
        "bm25",
        "warmup",
        "random",
        "hard",
        "hybrid:random",
        "hybrid:hard",
    ]
    assert not any(r["measured"] for r in metrics_rows({"models": None}))
    rows = {
        r["model"]: r
        for r in metrics_rows(
            {
                "models": {
                    "random": {
                        "full": {"mrr@10": 0.5, "queries": 846},
                        "bm25_hard": {"mrr@10": 0.3, "queries": 26},
                        "rerank": {"mrr@10": 0.9, "queries": 20},
                    },
                    "extra": {},
                }
            }
        )
    }
    assert (
        rows["random"]["mrr@10"] == 0.5 and rows["random"]["recall@10"] is None and rows["random"]["measured"]
    )
    assert (rows["random"]["queries"], rows["random"]["BM25-hard queries"]) == (
        846,
        26,
    )  # each figure's count
    assert rows["random"]["BM25-hard mrr@10"] == 0.3 and "rerank mrr@10" not in rows["random"]
    assert rows["hard"]["mrr@10"] is None and "extra" in rows
    assert metrics_note({}).startswith("*BM25-hard*")
    note = metrics_note({"split": {"val_fraction": 0.125, "val_queries": 846}, "corpus": {"passages": 8002}})
    assert (
        note.startswith("Measured on 846 validation queries (12.5% of the queries")
        and "all 8,002 passages" in note
    )
    assert "6-10" not in note


def test_fitted_on_note_names_the_tuning_slice_and_stays_quiet_without_it():
    fitted = {"hard": {"split": "tuning", "hash_range": [0.125, 0.175]}}
    note = fitted_on_note({"hybrid_fitted_on": fitted})
    assert "tuning queries (hash slice 12.5%–17.5%)" in note
    assert fitted_on_note({}) == fitted_on_note({"hybrid_fitted_on": {"hard": None}}) == ""


def test_design_sentence_says_what_the_build_recorded_and_nothing_without_it():
    design = {
        "warmup": "4 epochs, random negatives, lr 0.002",
        "rounds": "5 epochs from the warm-up at lr 0.002",
    }
    sentence = design_sentence({"design": design})
    assert "warm-up** checkpoint (4 epochs, random negatives, lr 0.002) for 5 epochs" in sentence
    assert "only the negatives differ" in sentence
    assert design_sentence({}) == design_sentence({"design": {"warmup": 4}}) == ""


def test_a_question_mark_case_or_spaces_never_change_which_dataset_query_matches():
    from core.retrieval.queries import query_key

    keys = {query_key(q) for q in ("what is dysgraphia?", "What is dysgraphia", "  what is  dysgraphia ? ")}
    assert keys == {"what is dysgraphia"}
    assert query_key("3/5 of 60") == "3/5 of 60" and query_key("u.s. states.") == "u.s. states"


def test_spelling_suggests_the_corpus_words_a_misspelt_query_meant():
    from core.retrieval.spelling import Speller

    texts = ["diabetes symptoms include thirst"] * 30 + ["symptoms of the flu", "a rare word: dysgraphia"]
    speller = Speller(texts)
    assert speller.suggest("diabetis symtoms") == "diabetes symptoms"  # one edit each
    assert speller.suggest("Diabetes symptoms?") is None  # nothing to mend
    assert speller.suggest("dysgraphia thirst") is None  # rare but held, and nothing near is common
    assert speller.suggest("qwzxv") is None  # nothing near
