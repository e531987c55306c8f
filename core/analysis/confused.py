"""Confused retrieval: validation queries whose judged passage is not a checkpoint's first result,
the wrong passage that beat it, and how two checkpoints differ on them.

Ranks come from `Ranker.query_scores` through `core.retrieval.metrics.judged_rank`, as
`IREvaluator.ranks` has them for the same ranker objects (the registry's, core.retrieval.registry), so
with one judged passage per query the number of confused queries is `queries * (1 - recall@1)` of
`python -m core eval --split val` (tested in tests/unit/test_rankers.py). An exact tie between the
judged passage and another counts against it here, while eval's top-k metrics place tied passages in
no set order: the two differ only there (in practice BM25 scores of 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.data.corpus import split_queries
from core.retrieval.metrics import judged_rank
from core.retrieval.ranker import Ranker

FILTERS = ("confused", "fixed", "broken", "both")  # see `Outcome.kind` and `select`
SORTS = ("judged rank", "score gap")


@dataclass(frozen=True)
class Side:
    """One checkpoint's view of one query."""

    rank: int  # rank of the best-scored judged passage over the whole corpus
    judged_row: int  # that passage's row (corpus order) and score (in the ranker's `unit`)
    judged_score: float
    wrong_row: int  # the best-scored passage that is not judged, and its score
    wrong_score: float

    @property
    def gap(self) -> float:
        """How far the top wrong passage scores above the judged one (negative: below it)."""
        return self.wrong_score - self.judged_score


@dataclass(frozen=True)
class Outcome:
    query_id: str
    query: str
    query_type: str
    sides: tuple[Side, Side]  # (the baseline, the ranker compared with it): in the order `outcomes` got them

    @property
    def kind(self) -> str:
        """'fixed' (the compared ranker puts the judged passage first, the baseline did not), 'broken'
        (the reverse), 'both' (neither does) or 'neither' (both do)."""
        a, b = (side.rank > 1 for side in self.sides)
        return {(True, False): "fixed", (False, True): "broken", (True, True): "both"}.get((a, b), "neither")


def _sides(engine: Ranker, query_ids: list[str]) -> list[Side]:
    scores, rel = engine.query_scores(query_ids)
    ranks = judged_rank(scores, rel)
    judged = scores.masked_fill(~rel, float("-inf")).max(1)
    wrong = scores.masked_fill(rel, float("-inf")).max(1)
    return [
        Side(int(r), int(ji), float(js), int(wi), float(ws))
        for r, js, ji, ws, wi in zip(
            ranks.tolist(),
            judged.values.tolist(),
            judged.indices.tolist(),
            wrong.values.tolist(),
            wrong.indices.tolist(),
        )
    ]


def outcomes(first: Ranker, second: Ranker, query_ids: list[str] | None = None) -> list[Outcome]:
    """Every validation query (or `query_ids`) through both rankers: `first` is the baseline."""
    if query_ids is None:
        query_ids = split_queries(first.catalog.corpus, first.val_fraction)[1]
    if not query_ids:
        return []
    queries = first.catalog.corpus.queries.set_index("query_id")
    with torch.no_grad():
        a, b = _sides(first, query_ids), _sides(second, query_ids)
    return [Outcome(q, queries.text[q], queries.query_type[q], (x, y)) for q, x, y in zip(query_ids, a, b)]


def counts(items: list[Outcome]) -> dict:
    """Queries in all; confused for each side (baseline, compared); fixed, broken and confused in both."""
    kinds = [o.kind for o in items]
    return {
        "queries": len(items),
        "confused": tuple(sum(o.sides[i].rank > 1 for o in items) for i in (0, 1)),
        **{k: kinds.count(k) for k in ("fixed", "broken", "both")},
    }


def select(
    items: list[Outcome], side: int, which: str = "confused", sort: str = "judged rank"
) -> list[Outcome]:
    """The queries of filter `which` ('confused': the judged passage is not first for `side`, 0 for the
    baseline or 1; else an `Outcome.kind`), worst first for `side` by judged rank or by score gap."""
    if which not in FILTERS or sort not in SORTS or side not in (0, 1):
        raise ValueError(f"unknown filter {which!r}, sort {sort!r} or side {side!r}")
    keep = [o for o in items if (o.sides[side].rank > 1 if which == "confused" else o.kind == which)]
    if sort == "judged rank":
        return sorted(keep, key=lambda o: (-o.sides[side].rank, -o.sides[side].gap))
    return sorted(keep, key=lambda o: (-o.sides[side].gap, -o.sides[side].rank))
