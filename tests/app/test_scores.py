"""Scores on the pages: every card says what its score adds up from (a checkpoint: meaning + shared
words; BM25: its terms; a hybrid: its two weighted parts), and each score is labelled in its ranker's
unit (BM25 and hybrids are never called a cosine) on Search, Compare and Confused."""

from __future__ import annotations

import re

from tests.app.test_app import app_env, cards, needs_app, open_page  # noqa: F401  (app_env: a fixture)

QUERY = "what is the capital of france"


def scored(at) -> list[tuple[str, str]]:
    """(the score's label, the explanation line) of each card on the page."""
    out = []
    for card in cards(at):
        label = re.search(r'<span class="score">(\S+) -?[\d.]+</span>', card)
        why = re.search(r'<div class="why"[^>]*>(.*?)</div>', card)
        out.append((label.group(1) if label else "", why.group(1) if why else ""))
    return out


def assert_explained(at, unit: str, *parts: str) -> None:
    found = scored(at)
    assert found, "cards"
    for label, why in found:
        assert label == unit, (label, unit)
        assert all(p in why for p in parts), (why, parts)


@needs_app
def test_search_and_compare_explain_every_score_in_its_rankers_unit(app_env):
    at = open_page("views/pages/search.py", q=QUERY)  # hard, the default
    assert_explained(at, "cos", "meaning ", " + shared words ")
    at.selectbox(key="model").set_value("bm25").run()
    assert_explained(at, "bm25", "shared words ")
    at.selectbox(key="model").set_value("hybrid:hard").run()
    assert_explained(at, "fused", "hard × ", " gives ", "meaning ", "; bm25 × ")

    at = open_page("views/pages/compare.py", q=QUERY, bm25="true")  # random, hard and a BM25 column
    found = scored(at)
    assert [label for label, _ in found].count("cos") >= 20 and ("bm25", "") not in found
    assert all("meaning " in why for label, why in found if label == "cos")
    assert all(why.startswith("shared words ") for label, why in found if label == "bm25")
    assert any(label == "bm25" for label, _ in found)


@needs_app
def test_confused_explains_the_winner_and_the_judged_passage_in_the_rankers_unit(app_env):
    at = open_page("views/pages/confused.py", filter="confused")  # random against hard: random's mistakes
    assert len(cards(at)) == 2
    assert_explained(at, "cos", "meaning ", " + shared words ")
    at = open_page(
        "views/pages/confused.py", a="bm25", b="hybrid:hard", model="hybrid:hard", filter="confused"
    )
    assert_explained(at, "fused", "hard × ", " gives ", "; bm25 × ")
    text = " ".join(c.value for c in at.caption)
    assert "cosine" not in text and "(fused)" in text and "fused " in text
    at.selectbox(key="model").set_value("bm25").run()
    assert_explained(at, "bm25", "shared words ")
