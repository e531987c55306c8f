"""The towers' experiments on tiny data: an arm trained from scratch (no warm-up, no round), each tower
against the GRU at one budget, only the tower differing; their own table with training and encoding
speeds; a second run trains nothing, and a tower's key is its own."""

import json

import pytest

from core.data.corpora import load_corpus
from core.pipeline import experiments
from core.pipeline.arms import BY_NAME
from tests.conftest import tiny_pipeline_config

ONLY = ["tower-gru", "tower-lstm"]


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("towers")
    cfg = tiny_pipeline_config(d, epochs=1)
    corpus = load_corpus(cfg.data.source)
    results = experiments.run(cfg, corpus, d / "artifacts", only=ONLY, log=lambda *_: None)
    return cfg, corpus, d / "artifacts", results


def test_a_tower_arm_trains_from_scratch_and_is_scored_against_the_gru(lab_run):
    _, corpus, artifacts, results = lab_run
    assert [r["name"] for r in results] == ONLY
    gru, lstm = results
    assert gru["start"] is None and gru["control"] is None and lstm["control"] == "tower-gru"
    assert not (artifacts / "experiments" / "warmup").exists(), "no warm-up: each tower starts from scratch"
    for r in results:
        assert r["dense"]["full"]["queries"] > 0 and r["training"]["triplets_per_s"] > 0
        assert r["encoding"]["passages"] == len(corpus.passages) and r["encoding"]["passages_per_s"] > 0
        log = json.loads((artifacts / "experiments" / r["name"] / "log.json").read_text())
        assert log["config"]["train"]["init_from"] is None
    table = experiments.markdown(results, corpus)
    section = table.split("## Towers at equal budget", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| **tower-lstm** |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "tower-gru" and float(cells[3]) == pytest.approx(
        lstm["dense"]["full"]["mrr@10"], abs=5e-4
    )
    assert cells[-3] == f"{lstm['training']['triplets_per_s']:,.0f}"
    assert cells[-2] == f"{lstm['encoding']['passages_per_s']:,.0f}"


def test_the_towers_differ_in_the_tower_alone(lab_run):
    _, _, artifacts, _ = lab_run
    gru, lstm = (json.loads((artifacts / "experiments" / n / "config.json").read_text()) for n in ONLY)
    assert (gru["model"].pop("tower"), lstm["model"].pop("tower")) == ("gru", "lstm")
    gru["train"].pop("threads"), lstm["train"].pop("threads")
    assert gru == lstm and gru["train"]["epochs"] == BY_NAME["tower-gru"].overrides["train.epochs"]


def test_a_second_run_trains_nothing_and_each_tower_has_its_own_key(lab_run, monkeypatch):
    cfg, corpus, artifacts, _ = lab_run
    monkeypatch.setattr(
        "core.training.rounds.train", lambda *a, **k: pytest.fail("an up-to-date arm trained")
    )
    again = experiments.run(cfg, corpus, artifacts, log=lambda *_: None, only=[])
    assert [r["name"] for r in again] == ONLY
    keys = {
        experiments.arm_key(cfg, BY_NAME[n], corpus.fingerprint()) for n in BY_NAME if n.startswith("tower-")
    }
    assert len(keys) == 4
