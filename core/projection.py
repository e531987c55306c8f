"""UMAP maps of a checkpoint's embedding space: its passages (all, or a sample that always keeps the
validation queries' judged passages) together with the validation queries, in 2-D or 3-D.

A map is fitted once (cosine metric, `umap-learn`) and stored as `artifacts/umap/NAME-2d.npz` with a
key of the checkpoint file's fingerprint, the corpus fingerprint, the split and the settings; it is
refitted only when that key changes. A typed query is placed without refitting, the way UMAP's
`transform` starts a new point: at the mean of its nearest fitted points' coordinates (nearest by
cosine in the original space), weighted by UMAP's fuzzy membership strengths. That is numpy over
the stored coordinates (about a millisecond), so the maps, a few hundred kB, can be committed and a
fresh clone needs neither the pickled reducer (15 MB a map) nor numba's compile of `transform`.
"""
from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.artifacts import key_of, write_atomic
from core.config import ProjectionConfig
from core.data import Corpus, split_queries
from core.metrics import rank_of

Progress = Callable[[float, str], None]


@dataclass
class Projection:
    """A fitted map: coordinates of passages (by corpus row) and of validation queries."""
    name: str
    dims: int
    key: str
    rows: np.ndarray          # passage rows (corpus order) on the map, ascending
    query_ids: list[str]      # validation queries on the map
    passage_xy: np.ndarray    # (len(rows), dims)
    query_xy: np.ndarray      # (len(query_ids), dims)
    fit_seconds: float
    neighbors: int


def projection_path(artifacts: str | Path, name: str, dims: int) -> Path:
    return Path(artifacts) / "umap" / f"{name}-{dims}d.npz"


def projection_key(checkpoint_fp: str, corpus_fp: str, val_fraction: float, cfg: ProjectionConfig, dims: int) -> str:
    return key_of(checkpoint_fp, corpus_fp, val_fraction, cfg, dims)


def sample_rows(n: int, keep: list[int], cap: int, seed: int) -> np.ndarray:
    """All `n` rows when `cap` allows, else every row of `keep` (up to `cap`) plus a uniform random
    sample of the others up to `cap` in all; ascending."""
    if n <= cap:
        return np.arange(n)
    keep = np.unique(np.asarray(keep, dtype=np.int64))[:cap]
    others = np.setdiff1d(np.arange(n), keep)
    extra = np.random.default_rng(seed).choice(others, size=cap - len(keep), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def fit_umap(vectors: np.ndarray, dims: int, cfg: ProjectionConfig) -> np.ndarray:
    """UMAP coordinates (cosine metric) of `vectors`, float32 (len(vectors), dims)."""
    import umap      # slow to import (numba); only needed to fit
    reducer = umap.UMAP(n_components=dims, metric="cosine", n_neighbors=min(cfg.umap_neighbors, len(vectors) - 1),
                        min_dist=cfg.umap_min_dist, random_state=cfg.umap_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # "n_jobs overridden by random_state": a fixed map is the point
        return reducer.fit_transform(vectors).astype(np.float32)


def save_projection(path: str | Path, p: Projection) -> None:
    """Write atomically (`write_atomic`)."""
    meta = {"name": p.name, "dims": p.dims, "key": p.key, "fit_seconds": p.fit_seconds, "neighbors": p.neighbors}
    write_atomic(path, lambda f: np.savez_compressed(
        f, rows=p.rows.astype(np.int32), query_ids=np.array(p.query_ids, dtype=str), passage_xy=p.passage_xy,
        query_xy=p.query_xy, meta=np.array(json.dumps(meta))))


def load_projection(path: str | Path) -> Projection | None:
    """The stored map, or None when it is missing or unreadable."""
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            return Projection(meta["name"], meta["dims"], meta["key"], z["rows"].astype(np.int64),
                              [str(q) for q in z["query_ids"]], z["passage_xy"], z["query_xy"],
                              meta["fit_seconds"], meta["neighbors"])
    except (OSError, KeyError, ValueError):
        return None


def _query_vectors(encoder, corpus: Corpus, query_ids: list[str]) -> np.ndarray:
    texts = corpus.queries.set_index("query_id").text
    return encoder.encode_queries([texts[q] for q in query_ids]) if query_ids else np.zeros((0, 0), np.float32)


def ensure_projection(artifacts: str | Path, name: str, checkpoint_fp: str, corpus: Corpus, encoder,
                      passage_vectors: np.ndarray, val_fraction: float, cfg: ProjectionConfig, dims: int = 2,
                      force: bool = False, progress: Progress | None = None) -> tuple[Projection, bool]:
    """The stored map of checkpoint `name` when its key still matches, else a new fit, stored.
    Returns (map, whether it was fitted now)."""
    if dims not in (2, 3):
        raise ValueError(f"a map has 2 or 3 dimensions, not {dims}")
    path = projection_path(artifacts, name, dims)
    key = projection_key(checkpoint_fp, corpus.fingerprint(), val_fraction, cfg, dims)
    stored = None if force else load_projection(path)
    if stored is not None and stored.key == key:
        return stored, False
    _, val = split_queries(corpus, val_fraction)
    row = {pid: i for i, pid in enumerate(corpus.passages.pid)}
    judged = [row[p] for q in val for p in corpus.positives[q]]
    rows = sample_rows(len(passage_vectors), judged, cfg.umap_max_passages, cfg.umap_seed)
    points = np.concatenate([passage_vectors[rows], _query_vectors(encoder, corpus, val)]) if val else passage_vectors[rows]
    if progress:
        progress(0.0, f"Fitting a {dims}-D UMAP map of the {name} model: {len(rows):,} passages and "
                      f"{len(val):,} validation queries (about a minute on a 2-core machine)")
    t0 = time.perf_counter()
    xy = fit_umap(points, dims, cfg)
    projection = Projection(name, dims, key, rows, list(val), xy[: len(rows)], xy[len(rows):],
                            round(time.perf_counter() - t0, 1), cfg.umap_neighbors)
    save_projection(path, projection)
    if progress:
        progress(1.0, f"The {name} map is ready")
    return projection, True


def membership_weights(distances: np.ndarray, iterations: int = 64) -> np.ndarray:
    """UMAP's fuzzy membership strengths of a point's k nearest neighbours: exp(-(d - rho) / sigma)
    with rho the nearest distance and sigma chosen so that the strengths sum to log2(k)."""
    d = np.maximum(np.asarray(distances, dtype=np.float64) - distances.min(), 0.0)
    target = np.log2(len(d)) if len(d) > 1 else 1.0
    lo, hi, sigma = 0.0, np.inf, 1.0
    for _ in range(iterations):
        total = np.exp(-d / sigma).sum()
        if abs(total - target) < 1e-5:
            break
        if total > target:
            hi = sigma
            sigma = (lo + hi) / 2
        else:
            lo = sigma
            sigma = sigma * 2 if hi == np.inf else (lo + hi) / 2
    return np.exp(-d / sigma)


class EmbeddingMap:
    """A `Projection` with the original vectors of its points, to place new query vectors on it."""

    def __init__(self, projection: Projection, passage_vectors: np.ndarray, query_vectors: np.ndarray):
        self.projection = projection
        parts = [passage_vectors[projection.rows]] + ([query_vectors] if len(projection.query_ids) else [])
        self.vectors = np.concatenate(parts).astype(np.float32)
        self.coords = np.concatenate([projection.passage_xy, projection.query_xy]).astype(np.float32)

    @classmethod
    def for_engine(cls, projection: Projection, engine) -> "EmbeddingMap":
        """The map's points' vectors from a `core.engine.Engine` (its passages, its encoded queries)."""
        return cls(projection, engine.vectors, _query_vectors(engine.encoder, engine.catalog.corpus, projection.query_ids))

    def place(self, vector: np.ndarray) -> np.ndarray:
        """Coordinates for a unit vector: its nearest fitted points' coordinates (cosine in the
        original space), averaged with UMAP's membership strengths, as UMAP's transform starts it."""
        k = min(self.projection.neighbors, len(self.vectors))
        sims = self.vectors @ np.asarray(vector, dtype=np.float32).ravel()
        near = np.argpartition(-sims, k - 1)[:k]
        w = membership_weights(1.0 - sims[near])
        return (w[:, None] * self.coords[near]).sum(0) / w.sum()


# --- what the embeddings page shows ------------------------------------------------------------

SHORT_CHARS = 90


def short(text: str, limit: int = SHORT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def map_points(projection: Projection, catalog, confused: dict[str, bool] | None = None):
    """One row per point of the map (a pandas DataFrame): `id` ('p<row>' or 'q<query id>'), `kind`
    ('passage' / 'query'), `role` ('query', 'judged passage' of a validation query, 'other passage'),
    `outcome` ('correct' / 'confused' for queries in `confused`, else the role), `query_type`
    ('unknown' where the data has none), `text` (full) and `short`, and the coordinates x, y (, z)."""
    import pandas as pd
    corpus = catalog.corpus
    queries = corpus.queries.set_index("query_id")
    judged = {catalog.row[p] for q in projection.query_ids for p in corpus.positives[q]}
    confused = confused or {}
    rows = [("p%d" % r, "passage", "judged passage" if r in judged else "other passage", catalog.display_text(r))
            for r in projection.rows.tolist()]
    rows += [("q" + q, "query", "query", queries.text[q]) for q in projection.query_ids]
    points = pd.DataFrame(rows, columns=["id", "kind", "role", "text"])
    qtypes = ["passage"] * len(projection.rows) + [str(queries.query_type[q] or "unknown").lower()
                                                    for q in projection.query_ids]
    outcome = list(points.role[: len(projection.rows)]) + [
        ("confused" if confused[q] else "correct") if q in confused else "query" for q in projection.query_ids]
    points["query_type"], points["outcome"] = qtypes, outcome
    points["short"] = [short(t) for t in points.text]
    xy = np.concatenate([projection.passage_xy, projection.query_xy])
    for axis, name in zip(range(projection.dims), "xyz"):
        points[name] = xy[:, axis]
    return points


@dataclass
class Located:
    """A typed query on a map: where it lands and what is truly near it."""
    query: str
    xy: np.ndarray                           # its coordinates on the map
    neighbours: list[tuple[int, float]]      # exact top k in the original space: (passage row, cosine)
    judged: list[tuple[int, int, float]]     # judged passages of a dataset query: (row, rank, cosine)
    project_ms: float                        # encoding the query and placing it on the map


def locate(emap: EmbeddingMap, engine, query: str, k: int = 10) -> Located:
    """Encode `query` with `engine`, place it on `emap`, and rank every passage by exact cosine."""
    from core.engine import validate_query
    query = validate_query(query, engine.vocab)
    t0 = time.perf_counter()
    vector = engine.encode_query(query)
    xy = emap.place(vector)
    ms = (time.perf_counter() - t0) * 1e3
    scores = engine.vectors @ vector
    top = np.argsort(-scores, kind="stable")[:k]
    _, judged_rows = engine.catalog.judged_rows(query)
    judged = [(r, rank_of(scores, r), float(scores[r])) for r in judged_rows]
    return Located(query, xy, [(int(r), float(scores[r])) for r in top], judged, ms)
