"""The registry of rankers by name (core.retrieval.registry) and the one `Ranker` interface: a ranker
added by one line shows up in `eval`; `eval` and the Confused analysis rank alike through the same
objects; a hybrid is made of any two rankers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.analysis import results
from core.analysis.confused import outcomes
from core.common.artifacts import CheckpointError
from core.common.config import ModelConfig
from core.data.corpora import load_corpus
from core.data.corpus import split_queries
from core.data.msmarco import build_corpus
from core.model.two_tower import TwoTower, save_checkpoint
from core.pipeline.cli import main
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.evaluate import IREvaluator
from core.retrieval.hybrid import Hybrid, fuse, save_weight
from core.retrieval.lexical import Lexical
from core.retrieval.metrics import judged_rank
from core.retrieval.registry import RankerContext, make, names
from tests.conftest import TOPICS, tiny_rows
from tests.toy_ranker import RandomScores

VAL = 0.5  # half the tiny corpus's queries are validation queries: enough to rank


@pytest.fixture(scope="module")
def artifacts(glove_vocab, tmp_path_factory):
    """An artifacts folder with one untrained checkpoint, `tiny`."""
    folder = tmp_path_factory.mktemp("artifacts")
    (folder / "tiny").mkdir()
    torch.manual_seed(0)
    passages = [glove_vocab.encode(t, 64) for ts in TOPICS.values() for t in ts]
    model = TwoTower.from_vocab(
        ModelConfig(hidden=16, out_dim=16, lexical=True), glove_vocab, idf=glove_vocab.idf(passages)
    )
    meta = {"data": {"query_len": 32, "passage_len": 64, "val_fraction": VAL}}
    save_checkpoint(folder / "tiny" / "model.pt", model, glove_vocab, meta)
    return folder


@pytest.fixture(scope="module")
def catalog():
    return Catalog(build_corpus(tiny_rows()))


def eval_json(capsys, *args: str) -> dict:
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_names_list_checkpoints_the_registry_and_hybrids(toy_ranker):
    assert names(["random", "hard"], app=True) == [
        "random",
        "hard",
        "bm25",
        "random-scores",
        "hybrid:random",
        "hybrid:hard",
    ]
    assert "glove-avg" in names([]) and "glove-avg" not in names([], app=True)


def test_make_builds_each_kind_and_a_hybrid_needs_a_fitted_weight(artifacts):
    context = RankerContext(artifacts)
    assert isinstance(make("bm25", context), Lexical)
    dense = make("tiny", context)
    assert isinstance(dense, DenseRanker) and dense.catalog is None and dense.val_fraction == VAL
    with pytest.raises(CheckpointError, match="no fusion weight"):
        make("hybrid:tiny", context)
    save_weight(artifacts, "tiny", dense.fingerprint, 0.7, {0.7: 0.5}, 3, {"split": "tuning"})
    hybrid = make("hybrid:tiny", context)
    assert isinstance(hybrid, Hybrid) and hybrid.weight == 0.7 and hybrid.name == "hybrid:tiny"
    assert (artifacts / "hybrid.json").unlink() is None


def test_a_toy_ranker_added_by_one_registry_line_is_evaluated_by_eval(toy_ranker, tiny_jsonl, capsys):
    found = eval_json(capsys, "--checkpoint", "random-scores", "--data", str(tiny_jsonl))
    assert len(toy_ranker) == 1 and toy_ranker[0].catalog is not None  # made by the registry, fitted
    corpus = load_corpus(str(tiny_jsonl))
    again = IREvaluator.from_corpus(corpus)(RandomScores())
    assert {mode: {k: again[mode][k] for k in found[mode]} for mode in found} == found
    assert found["full"]["queries"] == len(corpus.queries)
    assert 0 < found["full"]["mrr@10"] < 1  # random: not every judged passage first, some in the top 10


@pytest.mark.parametrize("name", ["tiny", "bm25", "random-scores"])
def test_eval_and_confused_give_the_same_ranks(name, artifacts, catalog, toy_ranker, tiny_jsonl, capsys):
    """The ranker the app opens (fitted on the catalog) ranks each validation query's judged passage
    where `IREvaluator` ranks it (the evaluator reuses the fitted object), and `python -m core eval`
    reports the metrics of those very ranks. (Not for BM25 here: on this tiny corpus a judged passage
    sharing no word with its query ties at 0 with others, which a judged rank counts against it while
    the metrics' top-k places it in index order; cosines and random scores do not tie.)"""
    ranker = make(name, RankerContext(artifacts)).fit(catalog)
    other = Lexical(catalog)
    _, val = split_queries(catalog.corpus, VAL)
    assert val
    confused = {o.query_id: o.sides[0].rank for o in outcomes(ranker, other, val)}
    fitted = getattr(ranker, "vectors", None)
    ranks = IREvaluator.from_corpus(catalog.corpus, val).ranks(ranker)
    assert getattr(ranker, "vectors", None) is fitted, "fitted on the same passages: not fitted again"
    assert ranks == confused
    if name == "bm25":
        return
    checkpoint = str(artifacts / "tiny" / "model.pt") if name == "tiny" else name
    args = ["--checkpoint", checkpoint, "--data", str(tiny_jsonl), "--split", "val", "--val-fraction"]
    full = eval_json(capsys, *args, str(VAL), "--artifacts", str(artifacts))["full"]
    assert full["queries"] == len(val)
    assert full["mrr@10"] == round(float(np.mean([1 / r if r <= 10 else 0 for r in ranks.values()])), 4)
    assert full["recall@1"] == round(float(np.mean([r == 1 for r in ranks.values()])), 4)


def test_a_hybrid_fuses_any_two_rankers(catalog):
    first, second = RandomScores().fit(catalog), Lexical(catalog)
    hybrid = Hybrid(first, second, 0.3, name="random+bm25")
    assert hybrid.catalog is catalog, "built from fitted rankers: fitted"
    queries = ["what is the capital of france", "coffee espresso coffee"]
    assert np.allclose(hybrid.scores(queries), fuse(first.scores(queries), second.scores(queries), 0.3))
    rows = list(range(len(catalog)))
    scores = hybrid.scores(queries[:1])[0]
    for row, e in zip(rows, hybrid.explain(queries[0], rows)):
        assert e.score == pytest.approx(float(scores[row]), abs=1e-6) and e.unit == "fused"
        assert sum(p.value for p in e.parts) == pytest.approx(e.score, abs=1e-6)
        assert [p.source.split(" ×")[0] for p in e.parts] == ["random-scores", "bm25"]
    result = results.search(hybrid, queries[0], 3)
    assert result.model == "random+bm25" and [h.rank for h in result.hits] == [1, 2, 3]
    assert result.judged is not None and result.judged.rank == int(
        judged_rank(*hybrid.query_scores([result.query_id]))[0]
    )
