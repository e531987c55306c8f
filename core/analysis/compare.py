"""Two searchers side by side: one query through both, each hit with its rank in the other model,
and validation queries on which two checkpoints place the judged passage far apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.results import ResultHit, SearchResult, search
from core.data.corpus import split_queries
from core.retrieval.catalog import Catalog
from core.retrieval.queries import readable
from core.retrieval.ranker import Ranker


@dataclass(frozen=True)
class Moved:
    hit: ResultHit
    other_rank: int  # the passage's rank in the other model, over the whole corpus
    new: bool  # not in the other model's top k

    @property
    def change(self) -> int:
        """Places this model ranks the passage above the other model (negative: below)."""
        return self.other_rank - self.hit.rank


@dataclass
class Comparison:
    left: SearchResult
    right: SearchResult
    left_moves: list[Moved]
    right_moves: list[Moved]
    overlap: float  # share of the top k both models return


def _moves(result: SearchResult, other: SearchResult, catalog: Catalog) -> list[Moved]:
    others = {h.pid for h in other.hits}
    return [Moved(h, other.rank_of(h.pid, catalog.row[h.pid]), h.pid not in others) for h in result.hits]


def compare(query: str, left: Ranker, right: Ranker, k: int = 10) -> Comparison:
    """One query through two engines, each hit with its rank in the other model."""
    a, b = search(left, query, k), search(right, query, k)
    overlap = len({h.pid for h in a.hits} & {h.pid for h in b.hits}) / max(min(k, len(left.catalog)), 1)
    return Comparison(a, b, _moves(a, b, left.catalog), _moves(b, a, left.catalog), overlap)


@dataclass(frozen=True)
class Example:
    query: str
    ranks: dict[str, int]  # model name -> rank of the judged passage over the whole corpus (first, second)

    @property
    def verdict(self) -> str:
        """'fixes' when the second model ranks the judged passage higher than the first, 'breaks' when
        lower, 'same' when both rank it alike."""
        first, second = self.ranks.values()
        return "fixes" if second < first else "breaks" if second > first else "same"


def example_queries(first: Ranker, second: Ranker, n: int = 6) -> list[Example]:
    """Readable validation queries on which the two checkpoints place the judged passage far apart
    while at least one puts it in its top 3: about two thirds won by `second`, the rest by `first`,
    biggest gap first; topped up with queries both answer at rank 1 when there are too few."""
    catalog = first.catalog
    texts = catalog.corpus.queries.set_index("query_id").text
    _, val = split_queries(catalog.corpus, first.val_fraction)
    val = [q for q in val if readable(texts[q], first.vocab) and readable(texts[q], second.vocab)]
    if not val:
        return []
    ra, rb = first.judged_ranks(val), second.judged_ranks(val)
    gap = np.log2(ra) - np.log2(rb)  # > 0: `second` ranks the judged passage higher

    def pick(rows, limit):
        return sorted(rows, key=lambda i: (-abs(gap[i]), len(texts[val[i]])))[:limit]

    second_wins = pick([i for i in range(len(val)) if rb[i] < ra[i] and rb[i] <= 3], n - n // 3)
    first_wins = pick([i for i in range(len(val)) if ra[i] < rb[i] and ra[i] <= 3], n // 3)
    chosen = second_wins + first_wins
    both = pick([i for i in range(len(val)) if ra[i] == rb[i] == 1], n - len(chosen))
    return [Example(texts[val[i]], {first.name: int(ra[i]), second.name: int(rb[i])}) for i in chosen + both]
