"""Labels for the regions of a map, so a class can orient itself: k-means on the map, each region
named by its most distinctive words, and placed on an aligned map by the same passages."""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.analysis.projection import Projection

REGIONS = 8  # regions labelled on a map
REGION_MIN_SHARE = 0.05  # a region's label words occur in at least this share of its passages


def regions(
    projection: Projection, catalog, count: int = REGIONS, words: int = 2, seed: int = 13
) -> list[tuple[np.ndarray, str]]:
    """(members, label) for regions of a map, so a class can orient itself: the passages grouped by
    k-means on their map coordinates (members: their places in `projection.rows`), each group named by
    its most distinctive words, the words (in at least REGION_MIN_SHARE of its passages) whose share of
    the group's passages most exceeds their share of the whole map's."""
    from sklearn.cluster import KMeans

    xy = projection.passage_xy
    count = min(count, len(xy))
    if count < 2:
        return []
    groups = KMeans(count, n_init=3, random_state=seed).fit_predict(xy)
    terms = [catalog.passage_terms[r] for r in projection.rows.tolist()]
    overall = Counter(t for ts in terms for t in ts)
    found = []
    for g in range(count):
        members = np.flatnonzero(groups == g)
        counts = Counter(t for i in members for t in terms[i])
        lift = {
            t: (c / len(members)) / (overall[t] / len(terms))
            for t, c in counts.items()
            if c >= max(2, REGION_MIN_SHARE * len(members)) and t.isalpha() and len(t) > 2
        }
        best = sorted(lift, key=lambda t: (-lift[t], t))[:words]
        if best:
            found.append((members, " · ".join(best)))
    return found


def placed(
    found: list[tuple[np.ndarray, str]], projection: Projection
) -> list[tuple[tuple[float, ...], str]]:
    """(coordinates, label) of each region of `found` (`regions`) on `projection`: the median of its
    passages there. Regions found on one of two aligned maps, placed on both, name a group of passages
    once, wherever each model puts it."""
    return [(tuple(map(float, np.median(projection.passage_xy[m], axis=0))), label) for m, label in found]
