"""UMAP maps of a checkpoint's embedding space: its passages (all, or a sample that always keeps the
validation queries' judged passages) together with the validation queries, in 2-D or 3-D (a corpus
of too few points is drawn by PCA instead: `core.analysis.layout`).

Maps of two checkpoints are fitted together (umap-learn's `AlignedUMAP`, each point related to
itself) so that a passage sits in the same region on both and its movement means something. Maps
are fitted once (cosine metric) and stored as `artifacts/umap/A+B-2d.npz` (`NAME-2d.npz` for one
checkpoint alone) with a key of the checkpoints' file fingerprints, the corpus fingerprint, the
split and the settings; they are refitted only when that key changes. A typed query is placed
without refitting, the way UMAP's `transform` starts a new point: at the mean of its nearest fitted
points' coordinates (nearest by cosine in the original space), weighted by UMAP's fuzzy membership
strengths: numpy over the stored coordinates (a millisecond), so the maps (a few hundred kB) are
committed and a fresh clone needs neither the pickled reducer (15 MB a map) nor numba's compile.
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.analysis.layout import MIN_UMAP_POINTS, fit_map
from core.common.artifacts import key_of, write_atomic
from core.common.config import ProjectionConfig
from core.common.types import Progress
from core.data.corpus import Corpus, split_queries
from core.model.encoded import Encoded
from core.retrieval.metrics import rank_of
from core.retrieval.queries import validate_query


@dataclass
class Projection:
    """A fitted map: coordinates of passages (by corpus row) and of validation queries."""

    name: str
    dims: int
    key: str
    rows: np.ndarray  # passage rows (corpus order) on the map, ascending
    query_ids: list[str]  # validation queries on the map
    passage_xy: np.ndarray  # (len(rows), dims)
    query_xy: np.ndarray  # (len(query_ids), dims)
    fit_seconds: float
    neighbors: int

    @property
    def method(self) -> str:
        """What drew the map: "UMAP", or "PCA" for too few points (`fit_map`)."""
        return "UMAP" if len(self.rows) + len(self.query_ids) >= MIN_UMAP_POINTS else "PCA"


@dataclass(frozen=True)
class Embedded:
    """What a map is fitted from: a checkpoint's name, file fingerprint, encoder (for the validation
    queries) and every passage's vector (a `core.retrieval.dense.DenseRanker` has all four). A map
    places points by their vectors' dense parts (`Encoded.directions`): their meaning; the words they
    share are not drawn."""

    name: str
    fingerprint: str
    encoder: object
    vectors: Encoded


def projection_path(artifacts: str | Path, names: list[str], dims: int) -> Path:
    """`umap/NAME-2d.npz` for one checkpoint's map, `umap/A+B-2d.npz` for maps aligned across several."""
    return Path(artifacts) / "umap" / f"{'+'.join(names)}-{dims}d.npz"


def projection_key(
    fingerprints: list[str], corpus_fp: str, val_fraction: float, cfg: ProjectionConfig, dims: int
) -> str:
    """One checkpoint's key is the one its committed map was stored with; aligned maps key them all."""
    if len(fingerprints) == 1:
        return key_of(fingerprints[0], corpus_fp, val_fraction, cfg, dims)
    return key_of(fingerprints, corpus_fp, val_fraction, cfg, dims, "aligned")


def sample_rows(n: int, keep: list[int], cap: int, seed: int) -> np.ndarray:
    """All `n` rows when `cap` allows, else every row of `keep` (up to `cap`) plus a uniform random
    sample of the others up to `cap` in all; ascending."""
    if n <= cap:
        return np.arange(n)
    keep = np.unique(np.asarray(keep, dtype=np.int64))[:cap]
    others = np.setdiff1d(np.arange(n), keep)
    extra = np.random.default_rng(seed).choice(others, size=cap - len(keep), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def save_projections(path: str | Path, maps: list[Projection]) -> None:
    """Write maps of the same points atomically (`write_atomic`), coordinates stacked per map."""
    first = maps[0]
    meta = {
        "names": [p.name for p in maps],
        "dims": first.dims,
        "key": first.key,
        "fit_seconds": first.fit_seconds,
        "neighbors": first.neighbors,
    }
    write_atomic(
        path,
        lambda f: np.savez_compressed(
            f,
            rows=first.rows.astype(np.int32),
            query_ids=np.array(first.query_ids, dtype=str),
            passage_xy=np.stack([p.passage_xy for p in maps]),
            query_xy=np.stack([p.query_xy for p in maps]),
            meta=np.array(json.dumps(meta)),
        ),
    )


def load_projections(path: str | Path) -> list[Projection] | None:
    """The stored maps (coordinates stacked per map, as `save_projections` writes them), or None."""
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            dims, names = meta["dims"], meta["names"]
            passages, queries = z["passage_xy"], z["query_xy"]
            rows, query_ids = z["rows"].astype(np.int64), [str(q) for q in z["query_ids"]]
        stacked = (len(names),) == passages.shape[:1] == queries.shape[:1] and passages.shape[-1:] == (dims,)
        if not stacked or passages.ndim != 3 or queries.ndim != 3:
            return None
        return [
            Projection(name, dims, meta["key"], rows, query_ids, p, q, meta["fit_seconds"], meta["neighbors"])
            for name, p, q in zip(names, passages, queries)
        ]
    except (OSError, EOFError, KeyError, ValueError, TypeError, AttributeError, zipfile.BadZipFile):
        return None


def usable(maps: list[Projection], key: str, names: list[str], passages: int, query_ids: list[str]) -> bool:
    """Whether maps are of `key` and `names`: finite, a point per row and query, rows in range."""
    rows, q, d = maps[0].rows, len(query_ids), maps[0].dims
    fine = all(m.passage_xy.shape == (len(rows), d) and m.query_xy.shape == (q, d) for m in maps)
    fine = fine and all(np.isfinite(m.passage_xy).all() and np.isfinite(m.query_xy).all() for m in maps)
    in_range = not len(rows) or (rows[0] >= 0 and rows[-1] < passages and bool((np.diff(rows) > 0).all()))
    current = maps[0].key == key and [m.name for m in maps] == names and maps[0].query_ids == list(query_ids)
    return current and fine and in_range


def _query_directions(encoder, corpus: Corpus, query_ids: list[str]) -> np.ndarray:
    """(Q, D) the dense parts' directions of the queries `query_ids`, as a map places them."""
    texts = corpus.queries.set_index("query_id").text
    if not query_ids:
        return np.zeros((0, 0), np.float32)
    return encoder.encode_queries([texts[q] for q in query_ids]).directions()


def ensure_projections(
    artifacts: str | Path,
    models: list[Embedded],
    corpus: Corpus,
    val_fraction: float,
    cfg: ProjectionConfig,
    dims: int = 2,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[list[Projection], bool]:
    """The stored maps of `models` (one map, or maps aligned across them) when their key still
    matches and they are `usable`, else new fits, stored. Returns (one map per model, whether fitted now)."""
    if dims not in (2, 3):
        raise ValueError(f"a map has 2 or 3 dimensions, not {dims}")
    names = [m.name for m in models]
    path = projection_path(artifacts, names, dims)
    key = projection_key([m.fingerprint for m in models], corpus.fingerprint(), val_fraction, cfg, dims)
    stored, (_, val) = None if force else load_projections(path), split_queries(corpus, val_fraction)
    if stored and usable(stored, key, names, len(models[0].vectors), val):
        return stored, False
    row = {pid: i for i, pid in enumerate(corpus.passages.pid)}
    judged = [row[p] for q in val for p in corpus.positives[q]]
    rows = sample_rows(len(models[0].vectors), judged, cfg.umap_max_passages, cfg.umap_seed)
    sets = [
        np.concatenate([m.vectors[rows].directions(), _query_directions(m.encoder, corpus, val)])
        if val
        else m.vectors[rows].directions()
        for m in models
    ]
    if progress:
        what = f"the {names[0]} model" if len(names) == 1 else f"the {' and '.join(names)} models, aligned"
        progress(
            0.0,
            f"Fitting {dims}-D maps of {what}: {len(rows):,} passages and {len(val):,} "
            "validation queries (a minute or two per model on a 2-core machine, once)",
        )
    t0 = time.perf_counter()
    coords = fit_map(sets, dims, cfg)
    seconds = round(time.perf_counter() - t0, 1)
    maps = [
        Projection(
            name, dims, key, rows, list(val), xy[: len(rows)], xy[len(rows) :], seconds, cfg.umap_neighbors
        )
        for name, xy in zip(names, coords)
    ]
    save_projections(path, maps)
    if progress:
        progress(1.0, "The maps are ready")
    return maps, True


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

    def __init__(self, projection: Projection, passage_vectors: Encoded, query_directions: np.ndarray):
        self.projection = projection
        parts = [passage_vectors[projection.rows].directions()]
        parts += [query_directions] if len(projection.query_ids) else []
        self.vectors = np.concatenate(parts).astype(np.float32)
        self.coords = np.concatenate([projection.passage_xy, projection.query_xy]).astype(np.float32)
        self.ids = point_ids(projection)
        self.position = {point: i for i, point in enumerate(self.ids)}

    @classmethod
    def for_engine(cls, projection: Projection, engine) -> EmbeddingMap:
        """The map's points' vectors from an `DenseRanker` (its passages, its encoded queries)."""
        return cls(
            projection,
            engine.vectors,
            _query_directions(engine.encoder, engine.catalog.corpus, projection.query_ids),
        )

    def place(self, vector: Encoded) -> np.ndarray:
        """Coordinates for a vector: its nearest fitted points' coordinates (cosine of the dense parts,
        as the map was fitted), averaged with UMAP's membership strengths, as UMAP's transform starts it."""
        k = min(self.projection.neighbors, len(self.vectors))
        sims = self.vectors @ vector.directions().ravel()
        near = np.argpartition(-sims, k - 1)[:k]
        w = membership_weights(1.0 - sims[near])
        return (w[:, None] * self.coords[near]).sum(0) / w.sum()

    def neighbours(self, point: str, k: int = 5) -> list[str]:
        """The ids of the `k` points nearest to `point` by cosine of the dense parts, itself left out."""
        sims = self.vectors @ self.vectors[self.position[point]]
        order = np.argsort(-sims, kind="stable")[: k + 1]
        return [self.ids[i] for i in order if self.ids[i] != point][:k]


def point_ids(projection: Projection) -> list[str]:
    """The map's point ids in coordinate order: 'p<row>' for passages, then 'q<query id>' for queries."""
    return [f"p{r}" for r in projection.rows.tolist()] + [f"q{q}" for q in projection.query_ids]


@dataclass
class Located:
    """A typed query on a map: where it lands and what is truly near it."""

    query: str
    xy: np.ndarray  # its coordinates on the map
    neighbours: list[tuple[int, float]]  # exact top k in the original space: (passage row, cosine)
    judged: list[tuple[int, int, float]]  # judged passages of a dataset query: (row, rank, cosine)
    project_ms: float  # encoding the query and placing it on the map


def locate(emap: EmbeddingMap, engine, query: str, k: int = 10) -> Located:
    """Encode `query` with `engine`, place it on `emap`, and rank every passage by exact cosine."""
    query = validate_query(query, engine.vocab)
    t0 = time.perf_counter()
    vector = engine.encode_query(query)
    xy = emap.place(vector)
    ms = (time.perf_counter() - t0) * 1e3
    scores = vector.scores(engine.vectors)[0]
    top = np.argsort(-scores, kind="stable")[:k]
    _, judged_rows = engine.catalog.judged_rows(query)
    judged = [(r, rank_of(scores, r), float(scores[r])) for r in judged_rows]
    return Located(query, xy, [(int(r), float(scores[r])) for r in top], judged, ms)
