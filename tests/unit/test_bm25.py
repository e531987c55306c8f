"""BM25's terms (core.retrieval.bm25): our tokens less English stop words, compounds as their parts,
each Snowball-stemmed; what that retrieves, how its scores are explained, and the no-answer check
that must agree with it (core.retrieval.catalog)."""

from __future__ import annotations

import pytest

from core.analysis import results
from core.data.msmarco import build_corpus
from core.data.text import LUCENE_STOP_WORDS
from core.retrieval.bm25 import BM25, bm25_terms, bm25_tokens, word_terms
from core.retrieval.catalog import Catalog, no_answer
from core.retrieval.lexical import Lexical
from tests.conftest import TOPICS, tiny_rows

PASSAGES = [
    "The dog runs in the park every morning",
    "A cat sleeps on the sofa",
    "The state-of-the-art T-cell therapy",
    "the of and",
]


def test_the_stop_words_are_the_ones_bm25s_ships():
    from bm25s.stopwords import STOPWORDS_EN

    assert sorted(LUCENE_STOP_WORDS) == sorted(STOPWORDS_EN)


def test_a_query_is_tokenised_without_importing_bm25s_or_numba():
    import subprocess
    import sys

    code = "import sys, core.retrieval.queries; print(sorted({'bm25s', 'numba'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_terms_are_snowball_stems_without_stop_words():
    assert bm25_terms("Running runs RUN") == ["run", "run", "run"]
    assert bm25_terms("the cat and the dogs") == ["cat", "dog"]
    assert bm25_terms("it's the end, isn't it?") == ["end"]  # clitics are contracted stop words
    assert bm25_terms("state-of-the-art T-cells") == ["state", "art", "t", "cell"]  # a compound's parts
    assert bm25_tokens("the T-cells run") == ["t-cells", "run"]  # the words as typed
    assert word_terms(["running", "t-cells", "of"]) == [("run",), ("t", "cell"), ()]


def test_a_word_in_another_form_matches_and_a_passage_sharing_no_term_is_not_retrieved():
    bm25 = BM25().fit(PASSAGES)
    scores = bm25.scores(["running dogs", "the", "t cells"])
    assert scores[0][0] > 0 and not scores[0][1:].any()  # "running" is "runs", "dogs" is "dog"
    assert not scores[1].any()  # only a stop word: nothing to match
    assert scores[2][2] > 0 and not scores[2][[0, 1, 3]].any()  # "t cells" meets "T-cell"
    catalog = Catalog(build_corpus(tiny_rows()))
    found = [catalog.texts[catalog.row[h.pid]] for h in results.search(Lexical(catalog), "musical", 5).hits]
    assert sorted(found) == sorted(TOPICS["piano"])  # "music" counts, as "musical"; nothing else does


def test_shares_name_the_words_as_typed_and_add_up_to_the_score():
    bm25 = BM25().fit(PASSAGES)
    query = "running dog run, the state-of-the-art"
    rows = list(range(len(PASSAGES)))
    shares, scores = bm25.explain(query, rows), bm25.scores([query])[0]
    assert set(shares[0]) == {"running", "dog", "run"} and shares[0]["running"] == pytest.approx(
        shares[0]["run"]
    )  # two words of one stem each count, under their own names
    assert set(shares[2]) == {"state-of-the-art"} and shares[1] == shares[3] == {}
    for share, score in zip(shares, scores):
        assert sum(share.values()) == pytest.approx(float(score), abs=1e-5)
    parts = bm25.explain("state art", [2])[0]
    assert shares[2]["state-of-the-art"] == pytest.approx(parts["state"] + parts["art"])


def test_no_answer_agrees_with_bm25_on_a_word_in_another_form():
    """ "musical" is BM25's "music": a passage that says "music" mentions it (the prefix stems alone
    would not see it), while a passage without it still does not."""
    catalog = Catalog(build_corpus(tiny_rows()))
    pid = {t: catalog.pids[catalog.texts.index(t)] for ts in TOPICS.values() for t in ts}
    assert no_answer(catalog, "musical", [pid["a pianist plays music on the piano keyboard"]]) is None
    missed = no_answer(catalog, "musical", [pid[TOPICS["rain"][0]]])
    assert missed.words == ["musical"] and missed.unknown == []  # the corpus has it, in "musical"
