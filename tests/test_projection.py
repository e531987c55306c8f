"""core.projection's pure parts: the passage sample, UMAP's membership strengths, placing a typed
query, and stored maps refitted only when their key changes (the UMAP fit itself runs for real in
tests/test_build.py and on the app pages)."""
from __future__ import annotations

import numpy as np
import pytest

import core.projection as projection
from core.config import ProjectionConfig
from core.data import build_corpus, split_queries
from core.projection import (EmbeddingMap, Projection, ensure_projection, load_projection, membership_weights,
                             projection_path, sample_rows)
from tests.conftest import tiny_rows


def test_sample_rows_keeps_judged_rows_and_caps():
    assert sample_rows(5, [3], 10, 0).tolist() == [0, 1, 2, 3, 4]
    rows = sample_rows(1000, [7, 500, 999], 50, seed=1)
    assert len(rows) == 50 and {7, 500, 999} <= set(rows.tolist()) and len(set(rows.tolist())) == 50
    assert rows.tolist() == sorted(rows.tolist()) == sample_rows(1000, [7, 500, 999], 50, seed=1).tolist()
    assert rows.tolist() != sample_rows(1000, [7, 500, 999], 50, seed=2).tolist()


@pytest.mark.parametrize("distances", [np.array([0.1, 0.2, 0.3, 0.5, 0.9]), np.linspace(0.05, 0.6, 15)])
def test_membership_weights_sum_to_log2_k(distances):
    w = membership_weights(distances)
    assert w[0] == pytest.approx(1.0) and np.all(np.diff(w) <= 0)
    assert w.sum() == pytest.approx(np.log2(len(distances)), abs=1e-4)


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_a_typed_query_lands_among_its_nearest_points():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.normal(0, 0.05, (20, 8)) + np.eye(8)[0]), _unit(rng.normal(0, 0.05, (20, 8)) + np.eye(8)[1])
    coords = np.concatenate([rng.normal(0, 0.3, (20, 2)), rng.normal(10, 0.3, (20, 2))]).astype(np.float32)
    p = Projection("m", 2, "k", np.arange(40), [], coords, np.zeros((0, 2), np.float32), 0.0, neighbors=10)
    emap = EmbeddingMap(p, np.concatenate([a, b]), np.zeros((0, 8), np.float32))
    assert np.linalg.norm(emap.place(_unit(np.eye(8)[0]))) < 1.0                      # among cluster a
    assert np.linalg.norm(emap.place(_unit(np.eye(8)[1])) - 10) < 1.5                 # among cluster b
    assert np.allclose(emap.place(a[3]), emap.place(a[3] * 1.0))


class FakeEncoder:
    def encode_queries(self, texts):
        return _unit(np.random.default_rng(len(texts)).normal(size=(len(texts), 4)))


def test_maps_are_stored_and_refitted_only_when_stale(tmp_path, monkeypatch):
    fits = []

    def fake_fit(vectors, dims, cfg):                 # stands in for UMAP: the bookkeeping is under test
        fits.append(len(vectors))
        return vectors[:, :dims].astype(np.float32)

    monkeypatch.setattr(projection, "fit_umap", fake_fit)
    corpus = build_corpus(tiny_rows())
    passages = _unit(np.random.default_rng(1).normal(size=(len(corpus.passages), 4)))
    _, val = split_queries(corpus, 0.3)
    cfg = ProjectionConfig(umap_max_passages=8)
    args = (tmp_path, "hard", "fp1", corpus, FakeEncoder(), passages, 0.3)
    first, built = ensure_projection(*args, cfg, 2)
    assert built and fits == [8 + len(val)] and first.query_ids == val and first.passage_xy.shape == (8, 2)
    judged = {list(corpus.passages.pid).index(p) for q in val for p in corpus.positives[q]}
    assert judged <= set(first.rows.tolist())                                  # judged passages always kept
    again, built = ensure_projection(*args, cfg, 2)
    assert not built and len(fits) == 1 and np.array_equal(again.passage_xy, first.passage_xy)
    assert ensure_projection(tmp_path, "hard", "fp2", *args[3:], cfg, 2)[1]     # a new checkpoint file
    assert ensure_projection(tmp_path, "hard", "fp2", *args[3:], ProjectionConfig(umap_max_passages=9), 2)[1]
    assert ensure_projection(*args, cfg, 3)[0].query_xy.shape == (len(val), 3)
    assert sorted(p.name for p in (tmp_path / "umap").iterdir()) == ["hard-2d.npz", "hard-3d.npz"]
    projection_path(tmp_path, "hard", 2).write_bytes(b"not a map")
    assert load_projection(projection_path(tmp_path, "hard", 2)) is None
    assert ensure_projection(*args, cfg, 2)[1]                                 # unreadable: refitted
    with pytest.raises(ValueError, match="2 or 3"):
        ensure_projection(*args, cfg, 4)
