"""`python -m core corpus add` and `eval --corpus` on corpora the tests write (passages taken from the
shipped demo corpus), with the committed checkpoints: a BEIR collection and a CSV of passages become
searchable, measured corpora; bad sources are one error line; an interrupted add resumes."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from core.analysis import results
from core.data.corpora import load_corpus
from core.pipeline import cli, new_corpus
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def demo():
    return load_corpus(str(ARTIFACTS / "demo_corpus.zip"))


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """The committed checkpoints and fusion weights, linked into a folder of the test's own."""
    art = tmp_path / "artifacts"
    for name in ("random", "hard"):
        (art / name).mkdir(parents=True)
        (art / name / "model.pt").symlink_to(ARTIFACTS / name / "model.pt")
    shutil.copy(ARTIFACTS / "hybrid.json", art / "hybrid.json")
    return art


def beir_folder(folder: Path, demo, unknown: bool = False) -> Path:
    """40 demo passages, the 8 queries judged on the first 8 of them (graded 2)."""
    folder.mkdir(parents=True)
    val = [q for q in demo.queries.query_id if demo.positives[q]][:8]
    judged = [next(iter(demo.positives[q])) for q in val]
    others = [p for p in demo.passages.pid if p not in judged][:32]
    text = dict(zip(demo.passages.pid, demo.passages.text))
    with open(folder / "corpus.jsonl", "w") as f:
        for pid in judged + others:
            f.write(json.dumps({"_id": pid, "title": "", "text": text[pid]}) + "\n")
    queries = dict(zip(demo.queries.query_id, demo.queries.text))
    with open(folder / "queries.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in val)
    (folder / "qrels").mkdir()
    lines = [f"{q}\t{p}\t2" for q, p in zip(val, judged)] + (["x\tnot-a-doc\t1"] if unknown else [])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n")
    return folder


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def test_a_beir_collection_is_added_searched_and_measured(tmp_path, artifacts, demo, capsys):
    folder = beir_folder(tmp_path / "col", demo)
    assert run("corpus", "add", "col", folder, "--no-maps", "--artifacts", artifacts) == 0
    assert run("corpus", "list", "--artifacts", artifacts) == 0
    assert "col: 40 passages, 8 queries, 8 judged" in capsys.readouterr().out
    assert run("eval", "--corpus", "col", "--json", "--artifacts", artifacts) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(scores) == set(new_corpus.CORPUS_MODELS)
    assert all(m["queries"] == 8 and 0 <= m["ndcg@10"] <= 1 for m in scores.values())
    assert scores["bm25"]["ndcg@10"] > 0.5 and scores["hard"]["mrr@10"] > 0.3  # each query's own passage
    corpus = new_corpus.open_corpus("col", artifacts)
    catalog = Catalog(corpus, "col", artifacts / "corpora" / "col")
    engine = DenseRanker("hard", artifacts / "hard" / "model.pt", catalog)
    query = corpus.queries.text[0]
    assert results.search(engine, query, 3).hits[0].pid == next(
        iter(corpus.positives[corpus.queries.query_id[0]])
    )


def test_a_csv_of_passages_with_its_own_columns(tmp_path, artifacts, demo, capsys):
    path = tmp_path / "notes.csv"
    pd.DataFrame({"key": demo.passages.pid[:30], "words": demo.passages.text[:30]}).to_csv(path, index=False)
    assert run("corpus", "add", "notes", path, "--no-maps", "--no-index", "--artifacts", artifacts) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert (
        len(error) == 1 and error[0].startswith("error:") and "--text" in error[0] and "'words'" in error[0]
    )
    argv = ["corpus", "add", "notes", path, "--text", "words", "--id", "key", "--no-maps", "--no-index"]
    assert run(*argv, "--artifacts", artifacts) == 0
    assert "without judged queries" in capsys.readouterr().out
    assert run("eval", "--corpus", "notes", "--artifacts", artifacts) == 2
    assert "no judged queries" in capsys.readouterr().err


def test_qrels_naming_an_unknown_passage_is_one_error_line(tmp_path, artifacts, demo, capsys):
    folder = beir_folder(tmp_path / "col", demo, unknown=True)
    assert run("corpus", "add", "col", folder, "--artifacts", artifacts) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "qrels/test.tsv:10: judges document 'not-a-doc'" in error[0]
    assert not (artifacts / "corpora" / "col").exists(), "nothing is stored"


def test_an_interrupted_add_resumes_without_redoing_finished_steps(tmp_path, artifacts, demo, monkeypatch):
    folder = beir_folder(tmp_path / "col", demo)
    real = new_corpus.ensure_vectors
    calls = []

    def killed_after_the_first(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # the process is stopped while the second checkpoint encodes
        calls.append(args[0].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(new_corpus, "ensure_vectors", killed_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        new_corpus.add("col", str(folder), artifacts=artifacts, index=False, maps=False, log=lambda _: None)
    assert sorted(p.name for p in (artifacts / "corpora" / "col").iterdir()) == ["corpus.zip", "random.npz"]
    monkeypatch.setattr(new_corpus, "ensure_vectors", real)
    lines = []
    new_corpus.add("col", str(folder), artifacts=artifacts, index=False, maps=False, log=lines.append)
    assert any("random: 40 passage vectors up to date" in line for line in lines), lines
    assert any("hard: 40 passage vectors encoded" in line for line in lines), lines
