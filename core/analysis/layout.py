"""How a map's points are laid out: UMAP (cosine), several sets aligned by `AlignedUMAP`; or, for
fewer than MIN_UMAP_POINTS points (passages and queries), PCA, every set after the first turned onto
the first: UMAP's neighbour graph means little there, and fitting it costs the same half a minute of
numba compile as a thousand points."""

from __future__ import annotations

import warnings

import numpy as np

from core.common.config import ProjectionConfig

MIN_UMAP_POINTS = 100  # below it, a map is drawn by PCA (`fit_map`)


def fit_map(vector_sets: list[np.ndarray], dims: int, cfg: ProjectionConfig) -> list[np.ndarray]:
    """`fit_umap`, or `fit_pca` below MIN_UMAP_POINTS points."""
    fit = fit_umap if len(vector_sets[0]) >= MIN_UMAP_POINTS else fit_pca
    return fit(vector_sets, dims, cfg)


def fit_pca(
    vector_sets: list[np.ndarray], dims: int, cfg: ProjectionConfig | None = None
) -> list[np.ndarray]:
    """Each set's first `dims` principal components, float32 (points, dims); every set after the
    first turned (an orthogonal Procrustes rotation) to lie as close as it can to the first's map."""
    maps = []
    for vectors in vector_sets:
        centred = np.asarray(vectors, dtype=np.float64) - np.mean(vectors, axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        xy = np.zeros((len(centred), dims))
        k = min(dims, len(s))
        xy[:, :k] = u[:, :k] * s[:k]
        if maps:
            left, _, right = np.linalg.svd(xy.T @ maps[0])
            xy = xy @ (left @ right)
        maps.append(xy)
    return [m.astype(np.float32) for m in maps]


def fit_umap(vector_sets: list[np.ndarray], dims: int, cfg: ProjectionConfig) -> list[np.ndarray]:
    """UMAP coordinates (cosine metric), float32 (points, dims), of each of `vector_sets` (the same
    points as embedded by different checkpoints). Several sets are fitted together by umap-learn's
    `AlignedUMAP`, each point related to itself, so a point sits in the same region on every map
    unless its neighbourhood changed: what moves between two checkpoints is what they disagree on."""
    import umap  # slow to import (numba); only needed to fit

    n = len(vector_sets[0])
    settings = dict(
        n_components=dims,
        metric="cosine",
        n_neighbors=min(cfg.umap_neighbors, n - 1),
        min_dist=cfg.umap_min_dist,
        random_state=cfg.umap_seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": a fixed map is the point
        if len(vector_sets) == 1:
            return [umap.UMAP(**settings).fit_transform(vector_sets[0]).astype(np.float32)]
        itself = {i: i for i in range(n)}
        relations = [itself] * (len(vector_sets) - 1)
        reducer = umap.AlignedUMAP(**settings).fit(list(vector_sets), relations=relations)
        return [e.astype(np.float32) for e in reducer.embeddings_]
