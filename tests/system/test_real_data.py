"""The real MS MARCO data end to end, as the shipped demo corpus (artifacts/demo_corpus.zip) holds it:
its counts, that it is the corpus the committed checkpoints were made on, that it reads back as the
v1.1 rows it came from, and HNSW against exact search with artifacts/random."""

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.corpora import load_corpus
from core.data.corpus import split_queries
from core.data.msmarco import build_corpus
from core.data.stored import read_corpus
from core.pipeline.cli import main
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.ranker import exact_top
from tests.conftest import DEMO_CORPUS, DEV_QUERIES, SAMPLE_QUERIES, demo_corpus, v11_rows, write_jsonl

ROOT_ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def test_the_demo_corpus_holds_the_shared_files():
    corpus = demo_corpus()
    assert (len(corpus.queries), len(corpus.passages)) == (19496, 22194)
    dev = corpus.queries.query_id[:DEV_QUERIES]  # dev_small_pairs.jsonl: one judged passage each
    assert all(
        corpus.candidates[q] == list(corpus.positives[q]) and len(corpus.positives[q]) == 1 for q in dev
    )
    sample = corpus.queries.query_id[-SAMPLE_QUERIES:]  # v1.1_train_sample200.jsonl, less 2 seen before
    assert sum(bool(corpus.positives[q]) for q in sample) == 187
    assert set(corpus.queries.query_type[-SAMPLE_QUERIES:]) > {"description", "numeric"}


@pytest.mark.parametrize("name", ["random", "hard"])
def test_the_demo_corpus_is_the_one_the_committed_checkpoints_were_made_on(name):
    meta = torch.load(ROOT_ARTIFACTS / name / "model.pt", weights_only=True)["meta"]["data"]
    assert meta["fingerprint"] == demo_corpus().fingerprint()
    assert load_corpus(str(DEMO_CORPUS)).fingerprint() == meta["fingerprint"], "read as the app reads it"


def test_v11_rows_rebuilt_from_the_demo_corpus_load_back_to_it():
    corpus = demo_corpus()
    rebuilt = build_corpus(v11_rows(corpus))
    assert rebuilt.passages.equals(corpus.passages) and rebuilt.queries.equals(corpus.queries)
    assert rebuilt.candidates == corpus.candidates and rebuilt.positives == corpus.positives
    assert rebuilt.fingerprint() == corpus.fingerprint()


def test_corpus_demo_writes_only_the_corpus_the_checkpoints_were_made_on(tmp_path, capsys):
    art = tmp_path / "artifacts"
    for name in ("random", "hard"):
        (art / name).mkdir(parents=True)
        (art / name / "model.pt").symlink_to(ROOT_ARTIFACTS / name / "model.pt")
    rows = v11_rows(demo_corpus())
    other = write_jsonl(tmp_path / "dev300.jsonl", rows[:300])
    assert main(["corpus", "demo", str(other), "--artifacts", str(art)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "not the corpus the checkpoints" in err
    assert not (art / "demo_corpus.zip").exists(), "nothing written"
    source = write_jsonl(tmp_path / "msmarco.jsonl", rows)
    assert main(["corpus", "demo", str(source), "--artifacts", str(art)]) == 0
    assert "the corpus of the checkpoints here (hard, random)" in capsys.readouterr().out
    assert read_corpus(art / "demo_corpus.zip").fingerprint() == demo_corpus().fingerprint()


@pytest.mark.stress
@pytest.mark.skipif(
    not (ROOT_ARTIFACTS / "random" / "model.pt").is_file(),
    reason="committed checkpoint artifacts/random/model.pt is missing",
)
def test_the_search_paths_candidates_give_the_exact_top_10_on_real_data(tmp_path):
    """Chroma's dense candidates with the inverted index's, scored exactly: the top 10 of every
    validation query is exact search's over the whole vectors, for at least 99% of them."""
    corpus = demo_corpus()
    _, val = split_queries(corpus, 0.125)
    catalog = Catalog(corpus)
    engine = DenseRanker(
        "random", ROOT_ARTIFACTS / "random" / "model.pt", catalog, chroma_path=tmp_path / "chroma"
    )
    qtext = dict(zip(corpus.queries.query_id, corpus.queries.text))
    vectors = engine.encoder.encode_queries([qtext[q] for q in val])
    exact = vectors.scores(engine.vectors)
    same = [
        [r for r, _ in engine.candidates(vectors[i], 10)[0]] == [r for r, _, _ in exact_top(exact[i], 10)]
        for i in range(len(val))
    ]
    assert np.mean(same) >= 0.99, np.mean(same)
