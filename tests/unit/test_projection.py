"""core.analysis.projection's pure parts: the passage sample, UMAP's membership strengths, placing a typed
query, neighbours, finding points by text, region labels, and stored maps (one checkpoint's, or
two aligned) refitted only when their key changes (the UMAP fits themselves run for real in
tests/system/test_build.py, on the app pages and, aligned on toy data, here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core.analysis.layout as layout
import core.analysis.projection as projection
from core.analysis.layout import fit_umap
from core.analysis.projection import (
    Embedded,
    EmbeddingMap,
    Projection,
    ensure_projections,
    load_projections,
    membership_weights,
    projection_path,
    sample_rows,
    save_projections,
)
from core.analysis.regions import placed, regions
from core.common.config import ProjectionConfig
from core.data.corpus import split_queries
from core.data.msmarco import build_corpus
from core.model.encoded import Encoded
from tests.conftest import TOPICS, tiny_rows
from views.parts.points import find_points, map_points


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


def _one(x) -> Encoded:
    """One vector with no lexical part, as an engine's query vector."""
    return Encoded.of_dense(np.asarray(x, dtype=np.float32)[None])


def test_a_typed_query_lands_among_its_nearest_points():
    rng = np.random.default_rng(0)
    a, b = (
        _unit(rng.normal(0, 0.05, (20, 8)) + np.eye(8)[0]),
        _unit(rng.normal(0, 0.05, (20, 8)) + np.eye(8)[1]),
    )
    coords = np.concatenate([rng.normal(0, 0.3, (20, 2)), rng.normal(10, 0.3, (20, 2))]).astype(np.float32)
    p = Projection("m", 2, "k", np.arange(40), [], coords, np.zeros((0, 2), np.float32), 0.0, neighbors=10)
    emap = EmbeddingMap(p, Encoded.of_dense(np.concatenate([a, b])), np.zeros((0, 8), np.float32))
    assert np.linalg.norm(emap.place(_one(np.eye(8)[0]))) < 1.0  # among cluster a
    assert np.linalg.norm(emap.place(_one(np.eye(8)[1])) - 10) < 1.5  # among cluster b
    assert np.allclose(emap.place(_one(a[3])), emap.place(_one(a[3] * 2.0))), "placed by direction"


class FakeEncoder:
    def encode_queries(self, texts):
        return Encoded.of_dense(_unit(np.random.default_rng(len(texts)).normal(size=(len(texts), 4))))


def test_maps_are_stored_and_refitted_only_when_stale(tmp_path, monkeypatch):
    fits = []

    def fake_fit(vector_sets, dims, cfg):  # stands in for the fit: the bookkeeping is under test
        fits.append([len(v) for v in vector_sets])
        return [v[:, :dims].astype(np.float32) for v in vector_sets]

    monkeypatch.setattr(projection, "fit_map", fake_fit)
    corpus = build_corpus(tiny_rows())
    passages = Encoded.of_dense(_unit(np.random.default_rng(1).normal(size=(len(corpus.passages), 4))))
    _, val = split_queries(corpus, 0.3)
    cfg = ProjectionConfig(umap_max_passages=8)
    hard, random = (Embedded(n, fp, FakeEncoder(), passages) for n, fp in (("hard", "1"), ("random", "0")))
    first, built = ensure_projections(tmp_path, [hard], corpus, 0.3, cfg, 2)
    assert built and fits == [[8 + len(val)]] and first[0].query_ids == val
    assert first[0].passage_xy.shape == (8, 2)
    judged = {list(corpus.passages.pid).index(p) for q in val for p in corpus.positives[q]}
    assert judged <= set(first[0].rows.tolist())  # judged passages always kept
    again, built = ensure_projections(tmp_path, [hard], corpus, 0.3, cfg, 2)
    assert not built and len(fits) == 1 and np.array_equal(again[0].passage_xy, first[0].passage_xy)
    rebuilt = Embedded("hard", "fp2", FakeEncoder(), passages)  # a new checkpoint file
    assert ensure_projections(tmp_path, [rebuilt], corpus, 0.3, cfg, 2)[1]
    assert ensure_projections(tmp_path, [hard], corpus, 0.3, ProjectionConfig(umap_max_passages=9), 2)[1]
    assert ensure_projections(tmp_path, [hard], corpus, 0.3, cfg, 3)[0][0].query_xy.shape == (len(val), 3)
    pair, built = ensure_projections(tmp_path, [random, hard], corpus, 0.3, cfg, 2)
    assert built and [p.name for p in pair] == ["random", "hard"] and fits[-1] == [8 + len(val)] * 2
    assert not ensure_projections(tmp_path, [random, hard], corpus, 0.3, cfg, 2)[1]
    assert ensure_projections(tmp_path, [hard, random], corpus, 0.3, cfg, 2)[1]  # another pair: own file
    assert sorted(p.name for p in (tmp_path / "umap").iterdir()) == [
        "hard+random-2d.npz",
        "hard-2d.npz",
        "hard-3d.npz",
        "random+hard-2d.npz",
    ]
    projection_path(tmp_path, ["hard"], 2).write_bytes(b"not a map")
    assert load_projections(projection_path(tmp_path, ["hard"], 2)) is None
    assert ensure_projections(tmp_path, [hard], corpus, 0.3, cfg, 2)[1]  # unreadable: refitted
    with pytest.raises(ValueError, match="2 or 3"):
        ensure_projections(tmp_path, [hard], corpus, 0.3, cfg, 4)


def test_a_map_file_in_another_layout_reads_as_none_and_one_written_here_round_trips(tmp_path):
    """Only the stacked layout `save_projections` writes is read: a file of unstacked coordinates with
    `name` in its meta is no map (so it is refitted), and a one-checkpoint map written here reads back."""
    path = tmp_path / "hard-2d.npz"
    meta = {"name": "hard", "dims": 2, "key": "k", "fit_seconds": 1.0, "neighbors": 15}
    arrays = dict(rows=np.arange(5, dtype=np.int32), query_ids=np.array(["q1", "q2"]))
    np.savez_compressed(
        path,
        **arrays,
        passage_xy=np.zeros((5, 2), np.float32),
        query_xy=np.ones((2, 2), np.float32),
        meta=np.array(json.dumps(meta)),
    )
    assert load_projections(path) is None
    one = Projection("hard", 2, "k", np.arange(5), ["q1", "q2"], np.zeros((5, 2)), np.ones((2, 2)), 1.0, 15)
    save_projections(path, [one])
    maps = load_projections(path)
    assert maps and len(maps) == 1 and maps[0].name == "hard" and maps[0].passage_xy.shape == (5, 2)
    assert maps[0].query_ids == ["q1", "q2"]


@pytest.mark.slow
def test_aligned_umap_keeps_a_shared_structure_in_place():
    """Two embeddings of the same clustered points, the second a small perturbation of the first: the
    aligned maps put each point near where it is on the other map (far nearer than chance)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    a = _unit(centres[rng.integers(0, 4, 200)] + rng.normal(0, 0.3, (200, 16)))
    b = _unit(a + rng.normal(0, 0.05, a.shape))
    xa, xb = fit_umap([a, b], 2, ProjectionConfig(umap_neighbors=10))
    moved = np.linalg.norm(xa - xb, axis=1).mean()
    chance = np.linalg.norm(xa - xb[rng.permutation(200)], axis=1).mean()
    assert xa.shape == xb.shape == (200, 2) and moved < chance / 3, (moved, chance)


def test_points_neighbours_find_and_regions():
    from core.retrieval.catalog import Catalog

    corpus = build_corpus(tiny_rows())
    catalog = Catalog(corpus)
    n = len(corpus.passages)
    topic = np.array([next(i for i, ts in enumerate(TOPICS.values()) if t in ts) for t in catalog.texts])
    xy = (np.stack([topic % 3, topic // 3], 1) * 10.0).astype(np.float32)  # one spot per topic
    p = Projection("m", 2, "k", np.arange(n), [], xy, np.zeros((0, 2), np.float32), 0.0, neighbors=3)
    vectors = _unit(np.eye(6)[topic] + np.random.default_rng(0).normal(0, 0.01, (n, 6)))
    emap = EmbeddingMap(p, Encoded.of_dense(vectors), np.zeros((0, 6), np.float32))
    coffee = f"p{int(np.flatnonzero(topic == 0)[0])}"
    assert emap.neighbours(coffee, 1) and emap.neighbours(coffee, 1)[0] != coffee
    assert topic[int(emap.neighbours(coffee, 1)[0][1:])] == 0  # nearest: the other coffee passage
    points = map_points(p, catalog)
    espresso = [f"p{i}" for i, t in enumerate(catalog.texts) if "espresso" in t]
    assert find_points(points, "ESPRESSO") == espresso
    assert find_points(points, "  ") == [] and find_points(points, "no such text") == []
    labels = placed(regions(p, catalog, count=6), p)
    assert len(labels) >= 5 and "brewed · coffee" in [text for _, text in labels]  # python: no word twice


def test_too_few_points_for_umap_are_drawn_by_pca_aligned_across_checkpoints(monkeypatch):
    """Below MIN_UMAP_POINTS, PCA: no numba, the second map turned onto the first; at it, UMAP."""
    rng = np.random.default_rng(3)
    a = _unit(rng.normal(size=(30, 16)))
    b = _unit(a @ np.linalg.qr(rng.normal(size=(16, 16)))[0])  # the same points, rotated
    xa, xb = layout.fit_map([a, b], 2, ProjectionConfig())
    assert xa.shape == xb.shape == (30, 2) and np.allclose(xa, xb, atol=1e-4), "aligned"
    used = []
    monkeypatch.setattr(layout, "fit_umap", lambda sets, dims, cfg: used.append(len(sets[0])) or sets)
    layout.fit_map([a[:1].repeat(layout.MIN_UMAP_POINTS, 0)], 2, ProjectionConfig())
    assert used == [layout.MIN_UMAP_POINTS]
    p = Projection("m", 2, "k", np.arange(25), ["q"] * 5, xa[:25], xa[25:], 0.0, neighbors=10)
    assert p.method == "PCA"
    p.rows = np.arange(layout.MIN_UMAP_POINTS)
    assert p.method == "UMAP"
