"""The class path through AppTest: a pick made while the URL is behind a write is never undone, a
misspelt query gets a suggestion and the hybrid answers with BM25, presentation mode hides every score,
Confused shows both models' parts, a long query highlights only what the model saw, Home and Training
without machine paths or raw column names, and text from data is never markup, on every page."""

from __future__ import annotations

import re

from tests.app.test_app import app_env, cards, needs_app, open_page  # noqa: F401  (app_env: a fixture)

EVIL = "[x](https://evil.example/login) ![x](https://evil.example/pixel.png) <b>x</b> vaccine"


@needs_app
def test_a_pick_while_the_url_is_behind_a_write_keeps_the_query_and_the_model(app_env):
    at = open_page("views/pages/search.py", q="vaccine")
    at.text_input(key="q").input("flu symptoms").run()
    assert at.query_params["q"] == "flu symptoms"
    at.query_params.clear()
    at.query_params.update({"q": "vaccine"})  # the browser has not applied the write yet
    at.selectbox(key="model").set_value("bm25").run()
    assert at.text_input(key="q").value == "flu symptoms" and at.selectbox(key="model").value == "bm25"
    assert at.query_params["q"] == "flu symptoms" and at.query_params["model"] == "bm25"


@needs_app
def test_a_misspelt_query_gets_a_suggestion_and_the_hybrid_answers_with_bm25(app_env):
    at = open_page("views/pages/search.py", q="diabetis symtoms")
    offered = [b.label for b in at.button if b.label.startswith("Did you mean")]
    assert offered == ["Did you mean: diabetes symptoms?"], offered
    next(b for b in at.button if b.label == offered[0]).click().run()
    assert at.text_input(key="q").value == "diabetes symptoms" and cards(at)
    at = open_page("views/pages/search.py", q="what is dysgraphia")  # spelt right: nothing offered
    assert not [b for b in at.button if b.label.startswith("Did you mean")]


@needs_app
def test_presentation_mode_hides_every_score_alike(app_env):
    at = open_page("views/pages/search.py", q="what is the capital of france", present="1")
    assert cards(at) and not any('class="score"' in c or 'class="why"' in c for c in cards(at))
    at = open_page("views/pages/confused.py", filter="confused", present="1")
    assert "gap" not in at.dataframe[0].value.columns
    text = " ".join(c.value for c in at.caption)
    assert "gap" not in text and "cos 0." not in text and not [h for h in at.html if 'class="why"' in h.value]
    at = open_page("views/pages/confused.py", filter="confused")  # and shown when not presenting
    assert "gap" in at.dataframe[0].value.columns and any('class="score"' in c for c in cards(at))


@needs_app
def test_confused_shows_both_models_parts_for_the_same_pair_and_no_blank_column(app_env):
    at = open_page("views/pages/confused.py", filter="confused")  # random's mistakes, beside hard
    other = [h.value for h in at.html if h.value.startswith('<div class="why">In hard: cos ')]
    assert len(other) == 2 and all(" = meaning " in h for h in other), other
    assert "type" not in at.dataframe[0].value.columns  # this data has no query types


@needs_app
def test_a_long_query_highlights_only_the_words_the_model_saw(app_env):
    unseen = {"baby", "first", "time", "body", "months", "weeks", "pregnant", "trimester"}
    query = "pregnancy symptoms " * 40 + " ".join(sorted(unseen))  # the words at the end are cut off
    at = open_page("views/pages/search.py", q=query)
    assert "went unseen" in " ".join(h.value for h in at.html)
    words = {w for c in cards(at) for w in re.findall(r"\w+", c.lower())}
    assert words & unseen, "the cards hold words the model never saw"
    marked = {m.lower() for c in cards(at) for m in re.findall(r"<mark>(.*?)</mark>", c)}
    assert "pregnancy" in marked and not marked & unseen, marked


@needs_app
def test_home_and_training_read_as_a_class_reads_them(app_env):
    at = open_page("views/pages/home.py")
    text = " ".join(e.value for e in [*at.caption, *at.markdown])
    assert "source:" not in text and str(app_env) not in text and "from BM25 (" not in text
    at = open_page("views/pages/training.py")
    columns = list(at.dataframe[0].value.columns)
    assert "run" in columns and "duration (s)" in columns and not [c for c in columns if "_" in c], columns
    table = at.dataframe[0].value
    assert not [c for c in table.columns if table[c].dtype == object and table[c].isin(["None"]).any()]


def markup(at) -> list[str]:
    """Every place a page put text that reads markdown or HTML, where the untrusted query reads as markup."""
    found = []
    for kind in ("markdown", "caption", "subheader", "title", "info", "warning", "error", "success"):
        for el in getattr(at, kind):
            body = re.sub(r"(`+).*?\1", "", el.value)  # inline code shows as it is
            if re.search(r"(?<!\\)\[x(?<!\\)\]\(|<b>", body):
                found.append(f"{kind}: {el.value[:120]}")
    for el in [*at.metric, *at.button, *at.expander]:
        if re.search(r"(?<!\\)\[x(?<!\\)\]\(|<b>", el.label):
            found.append(f"label: {el.label[:120]}")
    for el in at.html:
        if re.search(r"<b>x|href=\"https://evil|src=\"https://evil", el.value):
            found.append(f"html: {el.value[:120]}")
    return found


@needs_app
def test_text_from_data_never_renders_as_markup_on_any_page(app_env):
    pages = {
        "search": {"q": EVIL},
        "compare": {"q": EVIL, "bm25": "true"},
        "embeddings": {"q": EVIL},
    }
    for page, params in pages.items():
        at = open_page(f"views/pages/{page}.py", **params)
        assert at.text_input(key="q").value == EVIL
        assert not markup(at), (page, markup(at))
        assert cards(at), page


@needs_app
def test_a_dataset_query_with_markup_shows_as_text_on_confused(app_env, tmp_path, monkeypatch):
    """A corpus whose validation query holds a link, an image and HTML: the Confused heading, table
    and captions show it as typed."""
    import json

    from core.data.corpora import load_corpus
    from core.data.corpus import split_queries
    from core.model.encoder import Checkpoint

    source = app_env / "corpus.jsonl"
    val_fraction = Checkpoint("hard", app_env / "hard" / "model.pt").val_fraction
    qid = split_queries(load_corpus(str(source)), val_fraction)[1][0]
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    for row in rows:
        if str(row["query_id"]) == qid:
            row["query"] = EVIL
    evil = tmp_path / "evil.jsonl"
    evil.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("MSMARCO_SOURCE", str(evil))
    at = open_page("views/pages/confused.py", qid=qid)
    assert at.subheader and "evil" in at.subheader[0].value
    assert not markup(at), markup(at)


@needs_app
def test_every_table_shows_a_missing_value_as_a_blank_cell_never_none(app_env):
    """Item 15: st.dataframe writes "None" in a cell with no value (a running run's metrics) unless
    told otherwise."""
    for page in ("views/pages/home.py", "views/pages/training.py", "views/pages/confused.py"):
        tables = open_page(page).dataframe
        assert tables, page
        for table in tables:
            assert table.proto.HasField("placeholder") and table.proto.placeholder == "", page
