"""The experiments on tiny data: arms continue the warm-up, each is measured against its control,
and a second run trains nothing."""

import json

import pytest

from core.data.corpora import load_corpus
from core.pipeline import experiments
from tests.conftest import tiny_pipeline_config


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("experiments")
    cfg = tiny_pipeline_config(d, epochs=1)
    corpus = load_corpus(cfg.data.source)
    only = ["random", "hard"]
    results = experiments.run(cfg, corpus, d / "artifacts", only=only, log=lambda *_: None)
    return cfg, corpus, d / "artifacts", results


def test_each_arm_is_scored_beside_its_control(lab_run):
    _, corpus, artifacts, results = lab_run
    assert [r["name"] for r in results] == ["random", "hard"]
    hard = results[1]
    assert hard["control"] == "random" and hard["start"] == "warmup"
    assert hard["dense"]["bm25_hard"]["queries"] > 0 and hard["hybrid"]["fitted_on"]["split"] == "tuning"
    table = experiments.markdown(results, corpus)
    assert "| **hard** |" in table and "| random |" in table


def test_an_arm_and_its_control_differ_only_in_negatives(lab_run):
    _, _, artifacts, _ = lab_run
    random, hard = (
        json.loads((artifacts / "experiments" / n / "config.json").read_text())["train"]
        for n in ("random", "hard")
    )
    assert (random.pop("negatives"), hard.pop("negatives")) == ("random", "hard")
    assert random.pop("hard_file") is None and hard.pop("hard_file").endswith("hard.json")
    assert random == hard and hard["init_from"].endswith("warmup/model.pt")


def test_a_second_run_trains_nothing(lab_run, monkeypatch):
    cfg, corpus, artifacts, results = lab_run
    monkeypatch.setattr(
        "core.training.rounds.train", lambda *a, **k: pytest.fail("an up-to-date arm trained")
    )
    again = experiments.run(cfg, corpus, artifacts, log=lambda *_: None, only=[])
    assert [r["name"] for r in again] == ["random", "hard"]
