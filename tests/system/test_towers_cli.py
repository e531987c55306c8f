"""Every tower through the CLI: `python -m core train --tower X` trains a tiny run whose checkpoint
says which tower it holds, is searchable, and explains each hit's score as meaning + shared words
that add up to it; a tower that does not exist is one error line naming the four."""

import json

import pytest

from core.analysis import results
from core.data.corpora import load_corpus
from core.model.two_tower import load_checkpoint
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from tests.system.test_cli import run
from tests.unit.test_explain import assert_adds_up

QUERY = "what is the capital of france"
# each tower, with the settings it shares with the others: one- or two-directional, layers, pooling
RUNS = {
    "avg": [],
    "rnn": ["--no-bidirectional"],
    "gru": ["--pooling", "last"],
    "lstm": ["--layers", "2"],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data):
    """Each tower's tiny run, trained through the CLI: tower -> its run folder."""
    d = tmp_path_factory.mktemp("towers")
    for tower, flags in RUNS.items():
        r = run(
            "train",
            *("--out", str(d / tower), "--source", str(tiny_data), "--tower", tower, *flags),
            *("--epochs", "1", "--hidden", "8", "--out-dim", "16", "--top-n", "500"),
            *("--batch-size", "8", "--val-fraction", "0.3", "--threads", "1"),
        )
        assert r.returncode == 0, (tower, r.stderr[-2000:])
    return d


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from tests.conftest import tiny_rows

    path = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows()))
    return path


@pytest.mark.parametrize("tower", RUNS)
def test_each_tower_trains_through_the_cli_and_its_checkpoint_is_searchable_and_explained(
    trained, tiny_data, tower
):
    folder = trained / tower
    model, _, _ = load_checkpoint(folder / "model.pt")
    assert model.cfg.tower == tower
    assert json.loads((folder / "config.json").read_text())["model"]["tower"] == tower
    log = json.loads((folder / "log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [0, 1] and log["epochs"][1]["val"]["mrr@10"] > 0

    engine = DenseRanker(tower, folder / "model.pt", Catalog(load_corpus(str(tiny_data))))
    result = results.search(engine, QUERY, k=3)
    assert len(result.hits) == 3
    explained = results.explain_result(engine, result)
    for hit in result.hits:
        e = explained[hit.pid]
        assert [p.label for p in e.parts] == ["meaning", "shared words"]
        assert sum(p.value for p in e.parts) == pytest.approx(hit.score, abs=1e-5)
    assert_adds_up(engine, QUERY)


def test_a_tower_that_does_not_exist_is_one_error_line(tmp_path):
    r = run(
        "train", "--out", str(tmp_path / "run"), "--source", str(tmp_path / "none.jsonl"), "--tower", "tcn"
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["error: --tower must be gru or avg or rnn or lstm, not 'tcn'"]
    assert list(tmp_path.iterdir()) == []
