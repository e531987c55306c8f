"""Pseudo-queries cut from a corpus's passages (core.data.pseudo) and `python -m core pseudo`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.data.corpus import Corpus, DataSourceError
from core.data.pseudo import (
    counts,
    for_passage,
    pseudo_queries,
    sample_pseudo,
    sentences,
    usable,
    write_pseudo,
)
from core.pipeline.cli import main

TEXTS = [
    "Coffee is brewed from roasted beans. Espresso forces hot water through them. A crema forms on top.",
    "The Nile is the longest river in Africa. It flows north into the Mediterranean Sea.",
    "Python is a programming language. It was created by Guido van Rossum in 1991. It reads like English.",
]


def corpus(texts=TEXTS, titles=None) -> Corpus:
    titles = titles or [""] * len(texts)
    return Corpus(pd.DataFrame({"pid": [f"p{i}" for i in range(len(texts))], "title": titles, "text": texts}))


def test_sentences_split_after_an_end_mark_before_a_capital_or_digit():
    split = sentences("It is 3 p.m. now. Then 2 more! Really? yes.")
    assert split == ["It is 3 p.m. now.", "Then 2 more!", "Really? yes."]


def test_sentences_split_where_an_abstract_runs_two_together_but_not_inside_abbreviations():
    assert sentences("Cells divide in disease.Recent work agrees.") == [
        "Cells divide in disease.",
        "Recent work agrees.",
    ]
    assert sentences("Made in the U.S.A. by e.g.Smith today.") == ["Made in the U.S.A. by e.g.Smith today."]


def test_a_text_folded_to_lower_case_splits_after_every_end_mark_and_space():
    folded = "flow past a flat plate . the boundary layer thickens. a 2d model agrees ."
    assert sentences(folded) == [
        "flow past a flat plate .",
        "the boundary layer thickens.",
        "a 2d model agrees .",
    ]
    assert sentences("It is 3 p.m. now. then more") == ["It is 3 p.m. now. then more"], "capitals: as before"


def test_a_removed_sentence_is_never_in_its_positive_and_a_kept_one_is_the_passage_itself():
    made = [q for seed in range(200) for q in pseudo_queries(corpus(), seed) if q.kind == "ict"]
    removed, kept = [q for q in made if q.rest is not None], [q for q in made if q.rest is None]
    assert removed and kept, "both happen over 200 seeds"
    assert len(kept) < len(removed), "the sentence is kept now and then, not mostly"
    for q in removed:
        assert q.query not in q.rest and q.query in TEXTS[int(q.pid[1:])]
        assert sorted(sentences(q.rest) + [q.query]) == sorted(sentences(TEXTS[int(q.pid[1:])]))


def test_crops_are_spans_of_their_passage():
    crops = [q for seed in range(50) for q in pseudo_queries(corpus(), seed) if q.kind == "crop"]
    assert crops
    for q in crops:
        assert q.query in TEXTS[int(q.pid[1:])] and q.rest is None


def test_the_same_seed_makes_the_same_queries_and_a_passage_added_changes_no_others():
    first, again = pseudo_queries(corpus(), 7), pseudo_queries(corpus(), 7)
    assert first == again and first != pseudo_queries(corpus(), 8)
    grown = pseudo_queries(corpus([*TEXTS, "Tea is brewed from leaves. It is drunk hot or cold."]), 7)
    assert [q for q in grown if q.pid != "p3"] == first


def test_titles_are_queries_and_short_stop_word_and_repeated_queries_are_dropped():
    assert not usable("the") and not usable("of the and") and not usable("coffee")
    assert usable("espresso crema")
    made = pseudo_queries(corpus(titles=["Coffee brewing", "Coffee brewing", "The"]))
    titles = [q for q in made if q.kind == "title"]
    assert [(q.query, q.pid) for q in titles] == [("Coffee brewing", "p0")], "once, and never 'The'"
    assert all(usable(q.query) for q in made)
    assert len({q.query.lower() for q in made}) == len(made)
    assert for_passage("p9", "", "Too short.", 13) == [], "one sentence, too few words to crop"


def test_the_file_round_trips_and_a_damaged_one_says_what_to_do(tmp_path):
    made = pseudo_queries(corpus())
    write_pseudo(tmp_path / "p.jsonl", made, corpus(), 13)
    header, back = sample_pseudo(tmp_path / "p.jsonl", per_kind=len(made))
    assert back == made and header["counts"] == counts(made) and header["seed"] == 13
    firsts = [next(q for q in made if q.kind == kind) for kind, n in counts(made).items() if n]
    assert sample_pseudo(tmp_path / "p.jsonl", per_kind=1)[1] == sorted(firsts, key=made.index)
    (tmp_path / "bad.jsonl").write_text('{"pseudo_queries": {}}\n{"kind": "ict"}\n')
    with pytest.raises(DataSourceError, match="python -m core pseudo"):
        sample_pseudo(tmp_path / "bad.jsonl")


def test_the_command_writes_the_file_and_never_replaces_one_it_did_not_write(tmp_path, capsys):
    from core.data.stored import write_corpus

    (tmp_path / "corpora" / "tiny").mkdir(parents=True)
    write_corpus(corpus(), tmp_path / "corpora" / "tiny" / "corpus.zip")
    out = tmp_path / "pseudo.jsonl"
    assert main(["pseudo", "--corpus", "tiny", "--artifacts", str(tmp_path), "--out", str(out)]) == 0
    assert "pseudo-queries from 3 passages" in capsys.readouterr().out
    assert json.loads(out.read_text().splitlines()[0])["pseudo_queries"]["seed"] == 13
    assert main(["pseudo", "--corpus", "tiny", "--artifacts", str(tmp_path), "--out", str(out)]) == 0
    foreign = tmp_path / "notes.txt"
    foreign.write_text("mine")
    assert main(["pseudo", "--corpus", "tiny", "--artifacts", str(tmp_path), "--out", str(foreign)]) == 2
    assert foreign.read_text() == "mine" and "never replaced" in capsys.readouterr().err
