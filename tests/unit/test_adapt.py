"""Adapting a checkpoint to a corpus from its pseudo-queries (core.training.adapt, `python -m core adapt`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from core.common.config import ModelConfig
from core.data.corpus import Corpus
from core.data.pseudo import PseudoQuery, pseudo_queries
from core.data.stored import write_corpus
from core.model.two_tower import TwoTower, file_fingerprint, load_checkpoint, save_checkpoint
from core.pipeline.cli import main
from core.pipeline.new_corpus import evaluate
from core.retrieval.hybrid import read_weights, save_weight
from core.training.adapt import REST, judged_split, mined_negatives, plan, training_corpus
from tests.conftest import QUESTIONS, TOPICS

PASSAGES = [t for ts in TOPICS.values() for t in ts]


def tiny_checkpoint(path, vocab, idf: bool = True):
    """An untrained checkpoint; with its term weights at the passages' IDF (`idf`) it already ranks
    the tiny topics well, without (every word weighs the same) it has room to learn."""
    torch.manual_seed(0)
    passages = [vocab.encode(t, 64) for t in PASSAGES]
    model = TwoTower.from_vocab(
        ModelConfig(hidden=16, out_dim=16), vocab, idf=vocab.idf(passages) if idf else None
    )
    meta = {"data": {"query_len": 32, "passage_len": 64, "val_fraction": 0.3}}
    save_checkpoint(path, model, vocab, meta)
    return path


def judged_corpus() -> Corpus:
    """The tiny topics as a judged corpus: each question judged for its topic's passages."""
    pids = {t: f"d{i}" for i, t in enumerate(PASSAGES)}
    queries = [(f"q{i}", q, topic) for i, (topic, qs) in enumerate(QUESTIONS.items()) for q in qs]
    return Corpus(
        pd.DataFrame({"pid": list(pids.values()), "text": PASSAGES}),
        pd.DataFrame(
            {
                "query_id": [f"{q}-{j}" for j, (q, _, _) in enumerate(queries)],
                "text": [t for _, t, _ in queries],
            }
        ),
        {f"{q}-{j}": {pids[p]: 1 for p in TOPICS[topic]} for j, (q, _, topic) in enumerate(queries)},
        held_out=True,
    )


def test_the_training_corpus_has_each_query_judged_for_what_it_should_find():
    corpus = judged_corpus()
    queries = [
        PseudoQuery("crop", "coffee beans", "d0"),
        PseudoQuery("ict", "A crema forms.", "d1", rest="Espresso is strong."),
    ]
    train = training_corpus(corpus, queries, 13)
    judged = {text: train.qrels[qid] for qid, text in zip(train.queries.query_id, train.queries.text)}
    assert judged == {"coffee beans": {"d0": 1}, "A crema forms.": {"d1" + REST: 1}}
    assert train.passages.pid.tolist() == [*corpus.passages.pid, "d1" + REST]
    assert not train.held_out and set(corpus.qrels).isdisjoint(train.qrels), "no judged query is trained on"


def test_the_training_queries_are_shuffled_so_a_cap_draws_from_the_whole_corpus():
    queries = [PseudoQuery("crop", f"words of passage {i}", f"d{i}") for i in range(200)]
    texts = lambda seed: list(training_corpus(judged_corpus(), queries, seed).queries.text)  # noqa: E731
    first = {int(t.split()[-1]) for t in texts(13)[:50]}
    assert max(first) > 150 and min(first) < 50, "the first 50 span the corpus, not its first 50 passages"
    assert texts(13) == texts(13) and texts(13) != texts(14)


@pytest.mark.parametrize("how", ["bm25", "model"])
def test_mined_negatives_come_from_the_pool_and_never_name_the_positive_or_its_rest(
    how, tmp_path, glove_vocab
):
    train = training_corpus(judged_corpus(), pseudo_queries(judged_corpus()), 13)
    pool = set(list(train.passages.pid)[::2])
    start = tiny_checkpoint(tmp_path / "start.pt", glove_vocab)
    mined = mined_negatives(how, train, list(train.qrels), pool, start)
    assert mined.keys() == train.qrels.keys() and any(mined.values())
    for qid, negatives in mined.items():
        own = {p.removesuffix(REST) for p in train.positives[qid]}
        assert not {n.removesuffix(REST) for n in negatives} & own
        assert set(negatives) <= pool, "a held-out query's positive is never a negative"


def test_a_budget_of_steps_is_one_epoch_of_many_queries_or_passes_over_few():
    assert plan(20_000, 200, 64) == (1, 12_800)
    assert plan(3_500, 200, 64) == (4, 3_200), "4 epochs of 50 steps, not 4 of 55"
    assert plan(8_500, 200, 64) == (2, 6_400), "2 epochs of 100 steps, not 2 of 133"
    assert plan(100_000, 10, 64) == (1, 640)


def test_adapt_writes_a_checkpoint_named_for_the_corpus_that_moves_its_judged_metric(
    tmp_path, glove_vocab, tiny_jsonl, monkeypatch
):
    (tmp_path / "hard").mkdir()
    start = tiny_checkpoint(tmp_path / "hard" / "model.pt", glove_vocab, idf=False)
    meta = load_checkpoint(start)[2]
    (tmp_path / "corpora" / "tiny").mkdir(parents=True)
    write_corpus(judged_corpus(), tmp_path / "corpora" / "tiny" / "corpus.zip")

    assert main(["adapt", "--corpus", "tiny", "--artifacts", str(tmp_path), "--steps", "30"]) == 0
    adapted = tmp_path / "hard@tiny" / "model.pt"
    made = {"corpus": "tiny", "from": "hard", "negatives": "bm25", "kinds": ["title", "ict", "crop"]}
    assert load_checkpoint(adapted)[2]["adapted"] == {**made, "from_fingerprint": file_fingerprint(start)}
    log = json.loads((tmp_path / "hard@tiny" / "log.json").read_text())
    tune, report = judged_split(judged_corpus())
    assert (
        tune and report and not set(tune) & set(report) and len(tune + report) == len(judged_corpus().qrels)
    )
    assert all(
        (e["judged"]["tuning"]["queries"], e["judged"]["reported"]["queries"]) == (len(tune), len(report))
        for e in log["epochs"]
    ), "both slices measured at every epoch"
    best = max(e["judged"]["tuning"]["ndcg@10"] for e in log["epochs"])
    kept = log["epochs"][log["kept_epoch"]]
    assert kept["judged"]["tuning"]["ndcg@10"] == best, "the epoch kept is the best on the tuning slice"
    assert load_checkpoint(adapted)[2]["val"] == kept["val"], "and it is the one written"
    fitted = read_weights(tmp_path)["hard@tiny"]  # its hybrid's weight: fitted on the tuning queries alone
    assert fitted["checkpoint"] == file_fingerprint(adapted) and fitted["queries"] == len(tune)
    before = evaluate("tiny", tmp_path, ("hard",), True, None, False)["hard"]
    after = evaluate("tiny", tmp_path, ("hard@tiny",), True, None, False)["hard@tiny"]
    assert after["ndcg@10"] != before["ndcg@10"], (before, after)
    assert (
        main(["adapt", "--corpus", "tiny", "--artifacts", str(tmp_path), "--out", str(tmp_path / "hard")])
        == 2
    )
    assert load_checkpoint(tmp_path / "hard" / "model.pt")[2] == meta, "a finished run is never replaced"

    # the control: the same start and settings, the demo corpus's training queries instead
    monkeypatch.setenv("MSMARCO_SOURCE", str(tiny_jsonl))
    assert (
        main(["adapt", "--corpus", "tiny", "--artifacts", str(tmp_path), "--steps", "30", "--control"]) == 0
    )
    arm, control = (
        json.loads((tmp_path / n / "config.json").read_text()) for n in ("hard@tiny", "hard@tiny-control")
    )
    assert arm["train"].pop("hard_file") != control["train"].pop("hard_file")  # each its own BM25 negatives
    assert arm["train"].pop("init_from") != control["train"].pop("init_from")  # the one start, written twice
    assert arm["train"].pop("max_queries") != control["train"].pop("max_queries"), "as many as fill its steps"
    assert arm == control, "nothing but the queries (and the negatives mined for them) differs"
    logs = [json.loads((tmp_path / n / "log.json").read_text()) for n in ("hard@tiny", "hard@tiny-control")]
    assert logs[0]["steps"] == logs[1]["steps"] == len(logs[1]["batches"]), "an equal budget of steps"
    metas = [load_checkpoint(tmp_path / n / "model.pt")[2] for n in ("hard@tiny", "hard@tiny-control")]
    assert [m["control"] for m in metas] == [False, True]

    # the table: both beside their start, BM25 and the hybrids
    save_weight(tmp_path, "hard", file_fingerprint(start), 0.25, {}, 0, {"split": "tuning"})
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "experiments.md").write_text("# Experiments\n\nthe arms\n\n## Later\n\nkept\n")
    assert main(["experiments", "--adaptation", "--artifacts", str(tmp_path), "--docs", str(docs)]) == 0
    measured = json.loads((tmp_path / "adaptation.json").read_text())["tiny"]
    assert set(measured["models"]) == {
        "bm25",
        *(f"{h}{n}" for h in ("", "hybrid:") for n in ("hard", "hard@tiny", "hard@tiny-control")),
    }
    assert measured["models"]["hybrid:hard@tiny"] != measured["models"]["hard@tiny"], "fused at 0.25"
    text = (docs / "experiments.md").read_text()
    assert text.startswith("# Experiments\n\nthe arms") and "## Later\n\nkept" in text, (
        "the other sections kept"
    )
    gain = measured["models"]["hard@tiny"]["ndcg@10"] - measured["models"]["hard@tiny-control"]["ndcg@10"]
    row = next(line for line in text.splitlines() if line.startswith("| hard@tiny |"))
    assert f"| {gain:+.4f} |" in row and "| title, ict, crop | bm25 |" in row


def test_a_bad_setting_is_refused_before_any_work(tmp_path, capsys):
    assert main(["adapt", "--corpus", "nope", "--artifacts", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps must be a whole number" in capsys.readouterr().err, "not the corpus, opened later"
    assert main(["adapt", "--corpus", "nope", "--artifacts", str(tmp_path), "--kinds", "ict,titles"]) == 2
    assert "--kinds" in capsys.readouterr().err and not list(tmp_path.iterdir())
