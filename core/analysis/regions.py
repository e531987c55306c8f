"""Labels for the regions of a map (2-D or 3-D), so a class can orient itself: k-means on the map,
each region named by its most distinctive words."""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.analysis.projection import Projection

REGIONS = 8  # regions labelled on a map
REGION_MIN_SHARE = 0.05  # a region's label words occur in at least this share of its passages


def region_labels(
    projection: Projection, catalog, regions: int = REGIONS, words: int = 2, seed: int = 13
) -> list[tuple[tuple[float, ...], str]]:
    """(coordinates, label) for regions of a map, so a class can orient itself: the passages grouped by
    k-means on their map coordinates, each group named by its most distinctive words, the words
    (in at least REGION_MIN_SHARE of its passages) whose share of the group's passages most exceeds
    their share of the whole map's."""
    from sklearn.cluster import KMeans

    xy = projection.passage_xy
    regions = min(regions, len(xy))
    if regions < 2:
        return []
    groups = KMeans(regions, n_init=3, random_state=seed).fit_predict(xy)
    terms = [catalog.passage_terms[r] for r in projection.rows.tolist()]
    overall = Counter(t for ts in terms for t in ts)
    labels = []
    for g in range(regions):
        members = np.flatnonzero(groups == g)
        counts = Counter(t for i in members for t in terms[i])
        lift = {
            t: (c / len(members)) / (overall[t] / len(terms))
            for t, c in counts.items()
            if c >= max(2, REGION_MIN_SHARE * len(members)) and t.isalpha() and len(t) > 2
        }
        best = sorted(lift, key=lambda t: (-lift[t], t))[:words]
        if best:
            labels.append((tuple(map(float, np.median(xy[members], axis=0))), " · ".join(best)))
    return labels
