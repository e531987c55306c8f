"""One interface for every ranker, in evaluation and in the app (Pyserini's searchers share `search`
and `batch_search`; ours share this):

- `fit(passages)`: ready the ranker over a corpus (a `Catalog` in the app, plain `Passages` in
  `IREvaluator`); fitting again on the same passages does nothing, so a ranker the app opened is
  evaluated as it is;
- `scores(queries) -> (Q, N)`: the exact score of every passage, from which the rank of any passage
  (the judged one included) follows over the whole corpus (`judged_ranks`, `query_scores`);
- `search(query, k) -> Hits`: the top k `Hit(docid, score)`, by default the exact top k of `scores`;
- `unit` (what the scores are: cos, bm25, fused), `explain` (a score taken apart) and `tokens` (what
  the ranker sees of a query).

What a page shows beside the hits (ranks, texts, the judged passage, timings) is assembled above
this layer (`core.analysis.results`).
"""

from __future__ import annotations

import numpy as np
import torch

from core.common.config import DataConfig
from core.common.types import Hit
from core.data.text import tokenize
from core.data.vocab import Vocab
from core.retrieval.catalog import Catalog, Passages
from core.retrieval.explain import Explanation, Part
from core.retrieval.metrics import judged_rank
from core.retrieval.queries import QueryToken, validate_query


class Hits(list):
    """A search's hits (`Hit`), best first, and how it was answered: `path` ("exact": every passage
    scored, "chroma": the HNSW index) and a `notice` the person searching should read (the index was
    rebuilt; a hybrid answered with one half)."""

    def __init__(self, hits=(), path: str = "exact", notice: str | None = None):
        super().__init__(hits)
        self.path, self.notice = path, notice


def exact_top(scores: np.ndarray, k: int, floor: float | None = None) -> list[tuple[int, float, bool]]:
    """The top-k (row, score, missed=False) of one query's exact scores, ties in corpus order;
    rows scoring at or below `floor` are left out. Only the passages scoring at least the k-th best
    score are sorted (every search runs this over the whole corpus)."""
    rows = np.arange(len(scores))
    if 0 < k < len(scores):
        kth_best = np.partition(scores, len(scores) - k)[len(scores) - k]
        rows = np.flatnonzero(scores >= kth_best)  # ties at the cut included, in corpus order
    rows = rows[np.argsort(-scores[rows], kind="stable")][:k]
    return [(int(r), float(scores[r]), False) for r in rows if floor is None or scores[r] > floor]


def with_missed(
    approximate: list[tuple[int, float]], scores: np.ndarray, k: int
) -> list[tuple[int, float, bool]]:
    """An approximate index's top k (row, score), in its order, with each passage the exact scores
    rank within the top k but the index did not return inserted where exact search puts it, marked
    missed: the page shows it rather than a rank with no passage."""
    found = {r for r, _ in approximate}
    top = [(r, s, False) for r, s in approximate]
    for place, (row, score, _) in enumerate(exact_top(scores, k)):
        if row not in found:
            top.insert(min(place, len(top)), (row, score, True))
    return top


class Ranker:
    """What every ranker is (see the module's docstring). A subclass sets `name` and `unit` and
    implements `_fit` and `scores`; the rest has defaults it may override."""

    name: str
    unit: str = "score"
    floor: float | None = None  # passages scoring at or below it are not retrieved (BM25: no query word)
    val_fraction: float = DataConfig.val_fraction  # the split its validation queries come from
    vocab: Vocab | None = None  # the words the model knows; None: every word counts
    catalog: Catalog | None = None  # what it was fitted on (`Passages` when fitted by the evaluator)

    def fit(self, passages: Passages) -> Ranker:
        """Ready the ranker over `passages`; nothing to do when it is fitted on them already."""
        if not passages.same(self.catalog):
            self._fit(passages)
            self.catalog = passages
        return self

    def _fit(self, passages: Passages) -> None:
        raise NotImplementedError

    def scores(self, queries: list[str]) -> np.ndarray:
        """(Q, N): each query's score with every fitted passage."""
        raise NotImplementedError

    @property
    def version(self) -> str:
        """What a cache of this ranker's results is keyed by (a checkpoint's file fingerprint, never an
        object's id)."""
        return self.name

    def search(self, query: str, k: int = 10) -> Hits:
        """The exact top k over every passage."""
        query = validate_query(query, self.vocab)
        scores = self.scores([query])[0]
        return self.hits(exact_top(scores, k, floor=self.floor))

    def hits(
        self, top: list[tuple[int, float, bool]], path: str = "exact", notice: str | None = None
    ) -> Hits:
        """`Hits` of top-k (row, score, missed) triples, in rank order."""
        return Hits((Hit(self.catalog.pids[r], s, missed) for r, s, missed in top), path, notice)

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """The score of `query` with each passage (by row), taken apart; by default one part."""
        scores = self.scores([query])[0] if rows else []
        return [Explanation(float(scores[r]), self.unit, (Part("score", float(scores[r])),)) for r in rows]

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        """(the tokens this ranker sees in `query`, unknown ones marked; tokens past its length limit)."""
        return [QueryToken(t, True) for t in tokenize(query)], 0

    def query_scores(self, query_ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(score of each dataset query with every passage, which passages are judged), (Q, passages)."""
        queries = self.catalog.corpus.queries.set_index("query_id").text
        scores = np.ascontiguousarray(self.scores([queries[q] for q in query_ids]), dtype=np.float32)
        return torch.from_numpy(scores), torch.from_numpy(self.catalog.corpus.relevance(query_ids))

    def judged_ranks(self, query_ids: list[str]) -> np.ndarray:
        """Rank of each dataset query's best judged passage over the whole corpus (exact scores)."""
        return judged_rank(*self.query_scores(query_ids)).numpy()
