"""The corpus parts of the app that need no page: Home's transfer table and its sentence from
metrics.json's "corpora" section, an upload's suggested name, and text escaped for markdown."""

from __future__ import annotations

import pytest

from views.parts.add_corpus import plain, suggested_name
from views.parts.transfer import WITHOUT, measured, sentence, table


def section(bm25: float, random: float, hard: float, without: bool = False) -> dict:
    models = {
        name: {"queries": 30, "ndcg@10": v, "mrr@10": v + 0.05, "recall@100": 0.9}
        for name, v in (("random", random), ("hard", hard), ("bm25", bm25))
    }
    out = {"source": "x", "queries": 30, "passages": 100, "models": models}
    if without:
        out["without_new_words"] = {n: {**m, "ndcg@10": m["ndcg@10"] - 0.1} for n, m in models.items()}
    return out


@pytest.mark.parametrize("metrics", [{}, {"corpora": None}, {"corpora": {"x": {"source": "y"}}}, []])
def test_nothing_is_measured_without_a_corpora_section(metrics):
    assert measured(metrics) == {}


def test_the_sentence_is_computed_from_the_numbers():
    trails = sentence("scifact", section(bm25=0.643, random=0.349, hard=0.336))
    assert "**random** (nDCG@10 0.349)" in trails and "**trails BM25** (0.643) by 0.294" in trails
    assert "by -0.013 here" in trails
    beats = sentence("other", section(bm25=0.2, random=0.3, hard=0.4))
    assert "**hard** (nDCG@10 0.400), **beats BM25** (0.200) by 0.200" in beats and "+0.100" in beats
    assert sentence("x", {"models": {"bm25": {"ndcg@10": 0.5}}}) == ""


def test_the_table_has_a_row_per_ranker_and_the_without_column_only_when_measured():
    plain_table = table(section(0.5, 0.3, 0.4))
    assert list(plain_table.index) == ["random", "hard", "bm25"]
    assert list(plain_table.columns) == ["nDCG@10", "MRR@10", "R@100", "queries"]
    with_words = table(section(0.5, 0.3, 0.4, without=True))
    assert with_words.loc["hard", WITHOUT] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "file_name, name",
    [("Course Notes.csv", "course-notes"), ("scifact.zip", "scifact"), ("a/b/My_Data.v2.parquet", "my_data")],
)
def test_a_corpus_name_is_suggested_from_the_file_name(file_name, name):
    assert suggested_name(file_name) == name


def test_plain_text_shows_markdown_as_typed():
    assert plain("[click](http://x) **bold** `code`") == r"\[click\]\(http://x\) \*\*bold\*\* \`code\`"
