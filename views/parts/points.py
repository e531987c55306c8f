"""The Embeddings page's points table: one row per point of a map, with its role, outcome, type and
text, and finding points by their text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.projection import Projection, point_ids

SHORT_CHARS = 90


def short(text: str, limit: int = SHORT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def map_points(projection: Projection, catalog, confused: dict[str, bool] | None = None):
    """One row per point of the map (a pandas DataFrame): `id` ('p<row>' or 'q<query id>'), `kind`
    ('passage' / 'query'), `role` ('query', 'judged passage' of a validation query, 'other passage'),
    `outcome` ('correct' / 'confused' for queries in `confused`, else the role), `query_type`
    ('unknown' where the data has none), `text` (full) and `short`, and the coordinates x, y (, z)."""
    corpus = catalog.corpus
    queries = corpus.queries.set_index("query_id")
    judged = {catalog.row[p] for q in projection.query_ids for p in corpus.positives[q]}
    confused = confused or {}
    rows = [
        ("passage", "judged passage" if r in judged else "other passage", catalog.display_text(r))
        for r in projection.rows.tolist()
    ]
    rows += [("query", "query", queries.text[q]) for q in projection.query_ids]
    points = pd.DataFrame(rows, columns=["kind", "role", "text"])
    points.insert(0, "id", point_ids(projection))
    qtypes = ["passage"] * len(projection.rows) + [
        str(queries.query_type[q] or "unknown").lower() for q in projection.query_ids
    ]
    outcome = list(points.role[: len(projection.rows)]) + [
        ("confused" if confused[q] else "correct") if q in confused else "query" for q in projection.query_ids
    ]
    points["query_type"], points["outcome"] = qtypes, outcome
    points["short"] = [short(t) for t in points.text]
    xy = np.concatenate([projection.passage_xy, projection.query_xy])
    for axis, name in zip(range(projection.dims), "xyz"):
        points[name] = xy[:, axis]
    return points


def has_query_types(points, share: float = 0.5) -> bool:
    """Whether at least `share` of the map's queries have a query type (only the v1.1 sample has them)."""
    types = points.query_type[points.kind == "query"]
    return len(types) > 0 and (types != "unknown").mean() >= share


def find_points(points, text: str, limit: int = 8) -> list[str]:
    """Ids of up to `limit` points whose text contains `text` (case-insensitive), queries first."""
    text = " ".join(str(text).split())
    if not text:
        return []
    hits = points[points.text.str.contains(text, case=False, regex=False)]
    return list(hits.sort_values("kind", ascending=False, kind="stable").id[:limit])
