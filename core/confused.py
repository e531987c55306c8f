"""Confused retrieval: validation queries whose judged passage is not a checkpoint's first result,
the wrong passage that beat it, and how two checkpoints differ on them.

Ranks come from `Engine.query_scores` through `core.metrics.judged_rank`, the function behind
`python -m core eval`, so with one judged passage per query the number of confused queries is
`queries * (1 - recall@1)` of `eval --split val` (ties count against the judged passage in both).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.data import split_queries
from core.search import Engine
from core.metrics import judged_rank

FILTERS = ("confused", "fixed", "broken", "both")     # see `Outcome.kind` and `select`
SORTS = ("judged rank", "score gap")


@dataclass(frozen=True)
class Side:
    """One checkpoint's view of one query."""
    rank: int             # rank of the best-scored judged passage over the whole corpus
    judged_row: int       # that passage's row (corpus order) and cosine
    judged_score: float
    wrong_row: int        # the best-scored passage that is not judged, and its cosine
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
    first: Side           # the baseline checkpoint (random negatives)
    second: Side          # the checkpoint compared with it (hard negatives)

    @property
    def kind(self) -> str:
        """'fixed' (second puts the judged passage first, the baseline did not), 'broken' (the
        reverse), 'both' (neither does) or 'neither' (both do)."""
        a, b = self.first.rank > 1, self.second.rank > 1
        return {(True, False): "fixed", (False, True): "broken", (True, True): "both"}.get((a, b), "neither")


def _sides(engine: Engine, query_ids: list[str]) -> list[Side]:
    scores, rel = engine.query_scores(query_ids)
    ranks = judged_rank(scores, rel)
    judged = scores.masked_fill(~rel, float("-inf")).max(1)
    wrong = scores.masked_fill(rel, float("-inf")).max(1)
    return [Side(int(r), int(ji), float(js), int(wi), float(ws)) for r, js, ji, ws, wi in
            zip(ranks.tolist(), judged.values.tolist(), judged.indices.tolist(), wrong.values.tolist(),
                wrong.indices.tolist())]


def outcomes(first: Engine, second: Engine, query_ids: list[str] | None = None) -> list[Outcome]:
    """Every validation query (or `query_ids`) through both checkpoints."""
    if query_ids is None:
        query_ids = split_queries(first.catalog.corpus, first.val_fraction)[1]
    if not query_ids:
        return []
    queries = first.catalog.corpus.queries.set_index("query_id")
    with torch.no_grad():
        a, b = _sides(first, query_ids), _sides(second, query_ids)
    return [Outcome(q, queries.text[q], queries.query_type[q], x, y) for q, x, y in zip(query_ids, a, b)]


def counts(items: list[Outcome]) -> dict[str, int]:
    """Queries in all; confused for each checkpoint; fixed, broken and confused in both."""
    kinds = [o.kind for o in items]
    return {"queries": len(items), "first": sum(o.first.rank > 1 for o in items),
            "second": sum(o.second.rank > 1 for o in items),
            **{k: kinds.count(k) for k in ("fixed", "broken", "both")}}


def select(items: list[Outcome], side: str, which: str = "confused", sort: str = "judged rank") -> list[Outcome]:
    """The queries of filter `which` ('confused': the judged passage is not first for `side`, 'first'
    or 'second'; else an `Outcome.kind`), worst first for `side` by judged rank or by score gap."""
    if which not in FILTERS or sort not in SORTS or side not in ("first", "second"):
        raise ValueError(f"unknown filter {which!r}, sort {sort!r} or side {side!r}")
    keep = [o for o in items if (getattr(o, side).rank > 1 if which == "confused" else o.kind == which)]
    key = (lambda o: (-getattr(o, side).rank, -getattr(o, side).gap)) if sort == "judged rank" else \
        (lambda o: (-getattr(o, side).gap, -getattr(o, side).rank))
    return sorted(keep, key=key)
