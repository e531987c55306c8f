"""The corpus layer on files the tests write: passages apart from queries and judgements, every
format through one registry, the project's corpus file, each malformed source as one clear error."""

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from core.analysis import results
from core.data import formats
from core.data.corpora import DEFAULT, demo_file, load_corpus, name_problem, open_corpus
from core.data.corpus import Corpus, DataSourceError, split_queries, tune_queries
from core.data.formats import Format, load
from core.data.stored import read_corpus, write_corpus
from core.data.tables import Columns
from core.retrieval.catalog import Catalog
from core.retrieval.lexical import Lexical

PASSAGES = [
    ("d1", "Coffee", "coffee beans are roasted and brewed into a hot drink"),
    ("d2", "Python", "pythons are large snakes that kill by constriction"),
    ("d3", "Paris", "paris is the capital city of france"),
]


def beir(folder: Path, qrels: str = "q1\td1\t2\nq1\td3\t1\nq2\td2\t1\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in PASSAGES)
    )
    queries = [{"_id": "q1", "text": "hot coffee drink"}, {"_id": "q2", "text": "snakes"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def passages_table(path: Path, text: str = "text", id_: str = "id") -> Path:
    pd.DataFrame({id_: [p[0] for p in PASSAGES], text: [p[2] for p in PASSAGES]}).to_csv(path, index=False)
    return path


def test_corpora_without_queries_differ_in_fingerprint(tmp_path):
    """Every corpus without queries once had one fingerprint, so stored vectors and indexes keyed by it
    were shared between different corpora."""
    a = load(str(passages_table(tmp_path / "a.csv")))
    pd.DataFrame({"text": ["a different passage", "and another one"]}).to_csv(tmp_path / "b.csv", index=False)
    b = load(str(tmp_path / "b.csv"))
    assert a.fingerprint() != b.fingerprint()
    edited = Corpus(a.passages.assign(text=[*a.passages.text[:2], "paris is a city"]))
    assert edited.fingerprint() != a.fingerprint(), "a passage's text is part of the fingerprint"


def test_a_corpus_without_queries_is_searchable(tmp_path):
    corpus = load(str(passages_table(tmp_path / "p.csv")))
    assert len(corpus.queries) == 0 and not corpus.judged and split_queries(corpus, 0.2) == ([], [])
    catalog = Catalog(corpus, "mine", tmp_path / "mine")
    result = results.search(Lexical().fit(catalog), "which snakes kill", 2)
    assert [h.pid for h in result.hits][:1] == ["d2"]


def test_a_csv_with_its_own_column_names(tmp_path):
    path = passages_table(tmp_path / "p.csv", text="words", id_="key")
    with pytest.raises(DataSourceError, match=r"which column holds the passages' text.*'words'"):
        load(str(path))
    corpus = load(str(path), Columns(text="words", id="key"))
    assert list(corpus.passages.pid) == ["d1", "d2", "d3"] and corpus.passages.text[2] == PASSAGES[2][2]
    with pytest.raises(DataSourceError, match=r"no column 'content' \(--text\)"):
        load(str(path), Columns(text="content"))


def test_usual_column_names_are_guessed_in_every_table_format(tmp_path):
    table = pd.DataFrame(
        {"id": [p[0] for p in PASSAGES], "title": [p[1] for p in PASSAGES], "text": [p[2] for p in PASSAGES]}
    )
    table.to_csv(tmp_path / "p.csv", index=False)
    table.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    table.to_parquet(tmp_path / "p.parquet")
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in table.to_dict("records")))
    loaded = [load(str(tmp_path / f"p.{ext}")) for ext in ("csv", "tsv", "parquet", "jsonl")]
    assert len({c.fingerprint() for c in loaded}) == 1
    assert loaded[0].texts()[0] == "Coffee\n" + PASSAGES[0][2], "a title is read before its text"


@pytest.mark.parametrize(
    "rows, message",
    [
        ("id,text\nd1,coffee\nd2,\n", r"p.csv: row 3 has an empty 'text'"),
        ("id,text\nd1,coffee\nd1,tea\n", r"p.csv: rows 2 and 3 share the id 'd1'"),
        ("id,text\n", r"which column|empty"),
    ],
)
def test_a_bad_table_is_one_error_naming_the_line(tmp_path, rows, message):
    (tmp_path / "p.csv").write_text(rows)
    if rows == "id,text\n":
        assert len(load(str(tmp_path / "p.csv")).passages) == 0
        return
    with pytest.raises(DataSourceError, match=message):
        load(str(tmp_path / "p.csv"))


def test_beir_folder_and_zip(tmp_path):
    corpus = load(str(beir(tmp_path / "col")))
    assert corpus.held_out and corpus.qrels == {"q1": {"d1": 2, "d3": 1}, "q2": {"d2": 1}}
    assert (
        split_queries(corpus, 0.125, 0.05) == ([], ["q1", "q2"]) and tune_queries(corpus, 0.125, 0.05) == []
    )
    assert corpus.gains(["q1"]).tolist() == [[2.0, 0.0, 1.0]]
    with zipfile.ZipFile(tmp_path / "col.zip", "w") as z:
        for f in (tmp_path / "col").rglob("*"):
            if f.is_file():
                z.write(f, Path("col") / f.relative_to(tmp_path / "col"))
    assert load(str(tmp_path / "col.zip")).fingerprint() == corpus.fingerprint()


def test_beir_qrels_naming_an_unknown_passage_is_one_error(tmp_path):
    folder = beir(tmp_path / "col", qrels="q1\td1\t1\nq2\tnope\t1\n")
    with pytest.raises(DataSourceError, match=r"qrels/test.tsv:3: judges document 'nope'"):
        load(str(folder))


def test_beir_duplicate_ids_and_bad_lines(tmp_path):
    folder = beir(tmp_path / "col")
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d1", "title": "", "text": "again"}) + "\n")
    with pytest.raises(DataSourceError, match=r"corpus.jsonl:4: id 'd1' appears twice"):
        load(str(folder))
    folder = beir(tmp_path / "col2", qrels="q1\td1\tmany\n")
    with pytest.raises(DataSourceError, match=r"test.tsv:2: expected query-id"):
        load(str(folder))


def test_the_corpus_file_keeps_everything(tmp_path):
    corpus = load(str(beir(tmp_path / "col")))
    corpus.candidates = {"q1": ["d1", "d2"]}
    write_corpus(corpus, tmp_path / "c.zip")
    back = read_corpus(tmp_path / "c.zip")
    assert (
        back.fingerprint() == corpus.fingerprint() and back.held_out and back.candidates == corpus.candidates
    )
    assert load(str(tmp_path / "c.zip")).fingerprint() == corpus.fingerprint()
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataSourceError, match=r"not a (readable corpus file|format)"):
        load(str(tmp_path / "bad.zip"))


def test_a_new_format_is_one_loader_and_one_registry_line(tmp_path, monkeypatch):
    def lines(source: str, columns: Columns) -> Corpus:
        texts = Path(source).read_text().splitlines()
        return Corpus(
            pd.DataFrame({"pid": [f"l{i}" for i in range(len(texts))], "text": texts}), source=source
        )

    monkeypatch.setattr(
        formats, "FORMATS", [*formats.FORMATS, Format("lines", lambda s: s.endswith(".lines"), lines)]
    )
    (tmp_path / "c.lines").write_text("first passage\nsecond passage\n")
    assert list(load(str(tmp_path / "c.lines")).passages.text) == ["first passage", "second passage"]


def test_unknown_sources_say_what_is_read(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        load(str(tmp_path / "missing.csv"))
    (tmp_path / "notes.docx").write_bytes(b"x")
    with pytest.raises(DataSourceError, match="not a format this project reads"):
        load(str(tmp_path / "notes.docx"))


def test_the_demo_corpus_is_the_default_and_the_checkpoints_own(monkeypatch):
    import torch

    monkeypatch.delenv("MSMARCO_SOURCE", raising=False)
    corpus = load_corpus()
    assert (len(corpus.passages), len(corpus.queries)) == (22194, 19496)
    assert corpus.source == str(demo_file()) or "demo" in corpus.source
    trained_on = torch.load(Path(demo_file()).parent / "hard" / "model.pt", weights_only=True)["meta"]
    assert trained_on["data"]["fingerprint"] == corpus.fingerprint()
    assert open_corpus(DEFAULT).fingerprint() == corpus.fingerprint()


def test_corpus_names():
    assert name_problem("scifact") is None and name_problem("my-notes_2") is None
    assert "corpus name" in name_problem("Bad Name") and "demo" in name_problem(DEFAULT)
    assert "corpus name" in name_problem("../escape")
