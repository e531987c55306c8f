"""The app's rankers come from the one registry (core.retrieval.registry): a toy ranker added by one
registry line (tests/toy_ranker.py) can be picked on Search, Compare and Confused, and the Confused
page ranks each validation query's judged passage where `eval` (`IREvaluator`) ranks it, through the
very object the page used. Runs on the page tests' corpus and checkpoints (tests/app/test_app.py)."""

from __future__ import annotations

from core.data.corpora import load_corpus
from core.data.corpus import split_queries
from core.retrieval.evaluate import IREvaluator
from tests.app.test_app import app_env, cards, needs_app, open_page  # noqa: F401 (app_env: a fixture)
from tests.toy_ranker import RandomScores

TOY = "random-scores"


@needs_app
def test_a_toy_ranker_is_picked_on_search_compare_and_confused_and_ranks_as_eval(app_env, toy_ranker):
    at = open_page("views/pages/search.py", q="what is a python", model=TOY)
    assert TOY in at.selectbox(key="model").options and at.selectbox(key="model").value == TOY
    assert len(cards(at)) >= 10

    at = open_page("views/pages/compare.py", q="what is a python", a="hard", b=TOY)
    assert TOY in at.selectbox(key="a").options and TOY in at.selectbox(key="b").options
    assert [s.value for s in at.subheader] == ["hard", TOY] and len(cards(at)) >= 20

    at = open_page("views/pages/confused.py", a=TOY, b="hard", filter="confused")
    assert TOY in at.selectbox(key="a").options and at.selectbox(key="model").value == TOY
    table = at.dataframe[0].value
    shown = dict(zip(table["query"], table["judged rank"]))

    assert len(toy_ranker) == 1, "the registry made the toy once; every page used that object"
    used = toy_ranker[0]
    corpus = used.catalog.corpus
    _, val = split_queries(corpus, used.val_fraction)
    ranks = IREvaluator.from_corpus(corpus, val).ranks(used)
    assert ranks == IREvaluator.from_corpus(load_corpus(corpus.source), val).ranks(RandomScores())  # `eval`
    text = corpus.queries.set_index("query_id").text
    confused = {text[q]: r for q, r in ranks.items() if r > 1}
    assert len(table) == sum(r > 1 for r in ranks.values()) and len(shown) == len(confused)
    assert shown == confused
    assert {m.label: m.value for m in at.metric}[f"Confused · {TOY}"] == f"{len(table):,}"
