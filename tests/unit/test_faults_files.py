"""Damaged small files never break a page: a metrics.json of wrong types gives gaps, never an
exception; a map file truncated, with NaN coordinates, rows out of range or other queries is not
used (refitted); a checkpoint whose meta.data is not an object, or holds a fraction that is not a
number, is one `CheckpointError` naming the file (the pages show it as a message)."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis import projection
from core.analysis.projection import Projection, load_projections, save_projections
from core.common.artifacts import CheckpointError
from views.parts.headline import design_sentence, fitted_on_note, hard_gain, metrics_note, metrics_rows

DAMAGED_METRICS = {
    "models a list": {"models": [1, 2]},
    "a model a string": {"models": {"random": "0.5"}},
    "figures as text": {"models": {"random": {"full": {"mrr@10": "0.5", "queries": "846"}}}},
    "figures NaN and bool": {"models": {"hard": {"full": {"mrr@10": float("nan"), "queries": True}}}},
    "sections of other types": {
        "split": [1],
        "corpus": "x",
        "design": {"warmup": 1},
        "hybrid_fitted_on": {"hard": {"hash_range": ["a", None]}},
        "models": {"hard": {"full": [], "bm25_hard": {"mrr@10": "x"}}},
    },
    "a short hash range": {"hybrid_fitted_on": {"hard": {"hash_range": [0.1]}}},
}


@pytest.mark.parametrize("case", DAMAGED_METRICS)
def test_a_metrics_json_of_wrong_types_gives_gaps_never_an_exception(case):
    metrics = DAMAGED_METRICS[case]
    rows = metrics_rows(metrics)
    assert not any(r["measured"] for r in rows), "nothing unreadable is shown as measured"
    assert all(v is None or isinstance(v, (int, float)) for r in rows for k, v in r.items() if k != "model")
    metrics_note(metrics), fitted_on_note(metrics), design_sentence(metrics)
    assert hard_gain(rows[0], rows[-1]) == ""


def test_sound_metrics_are_still_read():
    metrics = {
        "models": {"hard": {"full": {"mrr@10": 0.5, "queries": 846}, "bm25_hard": {"mrr@10": 0.4}}},
        "hybrid_fitted_on": {"hard": {"split": "tuning", "hash_range": [0.125, 0.175]}},
    }
    (hard,) = [r for r in metrics_rows(metrics) if r["measured"]]
    assert hard["mrr@10"] == 0.5 and hard["queries"] == 846 and hard["BM25-hard mrr@10"] == 0.4
    assert "12.5%–17.5%" in fitted_on_note(metrics)


def stored_maps(path, rows=None, passage_xy=None) -> list[Projection]:
    rows = np.arange(10) if rows is None else rows
    rng = np.random.default_rng(0)
    xy = rng.standard_normal((len(rows), 2)).astype(np.float32) if passage_xy is None else passage_xy
    maps = [
        Projection(n, 2, "key", rows, ["q1", "q2"], xy, np.zeros((2, 2), np.float32), 1.0, 5)
        for n in ("random", "hard")
    ]
    save_projections(path, maps)
    return load_projections(path)


def test_sound_maps_are_used(tmp_path):
    maps = stored_maps(tmp_path / "m.npz")
    assert projection.usable(maps, "key", ["random", "hard"], 10, ["q1", "q2"])


@pytest.mark.parametrize(
    "damage", ["truncated", "NaN", "rows out of range", "rows repeated", "other queries", "another key"]
)
def test_a_damaged_map_file_is_never_used(tmp_path, damage):
    path = tmp_path / "m.npz"
    if damage == "truncated":
        stored_maps(path)
        path.write_bytes(path.read_bytes()[:300])
        assert load_projections(path) is None
        return
    nan = np.full((10, 2), np.nan, np.float32) if damage == "NaN" else None
    rows = {"rows out of range": np.arange(5, 15), "rows repeated": np.zeros(10, int)}.get(
        damage, np.arange(10)
    )
    maps = stored_maps(path, rows, nan)
    queries = ["q1", "q3"] if damage == "other queries" else ["q1", "q2"]
    key = "other" if damage == "another key" else "key"
    assert not projection.usable(maps, key, ["random", "hard"], 12, queries)


@pytest.mark.parametrize(
    "data", ["a string", {"val_fraction": "abc"}, {"query_len": -3}, {"tune_fraction": 5}]
)
def test_a_checkpoint_with_a_damaged_meta_data_is_one_error_naming_it(glove_vocab, tmp_path, data):
    from core.common.config import ModelConfig
    from core.model.encoder import Checkpoint
    from core.model.two_tower import TwoTower, save_checkpoint

    model = TwoTower.from_vocab(ModelConfig(hidden=4, out_dim=4, lexical=False), glove_vocab)
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"data": data})
    checkpoint = Checkpoint("hard", tmp_path / "model.pt")
    with pytest.raises(
        CheckpointError, match=f"checkpoint {tmp_path / 'model.pt'} is damaged: its meta.data"
    ):
        assert checkpoint.val_fraction is None
