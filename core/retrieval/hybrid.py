"""Fusion of two rankers: `weight * first + (1 - weight) * second / the query's best second score`
(today a checkpoint's cosine and BM25).

One formula (`fuse`) behind the hybrid ranker (`Hybrid`, built from any two rankers) and the weight
fit (`fit_weight`, on the tuning slice: queries the checkpoint never trained on and the reported
figures never use). Fitted weights live in `artifacts/hybrid.json`, keyed by the checkpoint
file's fingerprint, with the queries each was fitted on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.common.artifacts import CheckpointError, read_json, write_json
from core.data.corpus import Corpus, split_queries, tune_queries
from core.model.encoded import Encoded
from core.retrieval.bm25 import BM25, BM25_VERSION
from core.retrieval.catalog import Passages
from core.retrieval.explain import Explanation, Part
from core.retrieval.metrics import per_query_metrics
from core.retrieval.queries import QueryError, QueryToken, validate_query
from core.retrieval.ranker import Hits, Ranker, exact_top

GRID = tuple(round(float(w), 2) for w in np.linspace(0, 1, 21))
PREFIX = "hybrid:"


def fuse(cosine: np.ndarray, bm25: np.ndarray, weight: float) -> np.ndarray:
    """(Q, N) fused scores from (Q, N) cosines and (Q, N) BM25 scores (a query without any BM25
    match keeps its cosines alone, scaled by `weight`)."""
    top = bm25.max(axis=1, keepdims=True)
    lexical = np.divide(bm25, top, out=np.zeros_like(bm25), where=top > 0)
    return weight * cosine + (1 - weight) * lexical


def bm25_weight(best_bm25: float, weight: float) -> float:
    """What one point of BM25 adds to a fused score (`fuse`), the rest being `weight * cosine`:
    (1 - weight) / the query's best BM25 score."""
    return (1 - weight) / best_bm25 if best_bm25 > 0 else 0.0


class Hybrid(Ranker):
    """Two rankers over the same passages, fused (`fuse`) by `weight`; searched exactly over every
    passage. It sees a query as its first ranker does."""

    unit = "fused"

    def __init__(self, first: Ranker, second: Ranker, weight: float, name: str | None = None):
        self.first, self.second, self.weight = first, second, weight
        self.name = name or PREFIX + first.name
        self.vocab, self.val_fraction = first.vocab, first.val_fraction
        if first.catalog is not None and first.catalog.same(second.catalog):
            self.catalog = first.catalog

    @property
    def version(self) -> str:
        return f"{self.first.version}+{self.second.version}:{self.weight}"

    def _fit(self, passages: Passages) -> None:
        self.first.fit(passages)
        self.second.fit(passages)

    def reads(self, query: str) -> bool:
        """Whether the first ranker can search `query` (a checkpoint: it knows one of its words)."""
        try:
            validate_query(query, self.first.vocab)
        except QueryError:
            return False
        return True

    def scores(self, queries: list[str]) -> np.ndarray:
        """Fused scores; a query the first ranker cannot read scores by the second alone."""
        read = np.array([[self.reads(q)] for q in queries], dtype=np.float32)
        return fuse(self.first.scores(queries) * read, self.second.scores(queries), self.weight)

    def search(self, query: str, k: int = 10) -> Hits:
        """The exact top k; a query the first ranker cannot read (a misspelt word it never saw) is
        answered by the second alone, among the passages it finds, and said so in `notice`; refused
        with the first's reason when the second finds nothing either."""
        if self.reads(query):
            return super().search(query, k)
        query = validate_query(query)
        top = exact_top(self.scores([query])[0], k, floor=0.0)
        if not top:
            validate_query(query, self.first.vocab)  # raises the first ranker's reason
        first, second = self.first.name, self.second.name
        notice = f"{first} knows none of these words, so {self.name} answers with its {second} half alone."
        return self.hits(top, notice=notice)

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return self.first.tokens(query)

    def explain(self, query: str, rows: list[int]) -> list[Explanation]:
        """Fused = weight × the first ranker's score (its parts) + the second's × (1 - weight) / the
        query's best second score (its parts), as `fuse` adds them."""
        if not rows:
            return []
        fused, second = self.scores([query])[0], self.second.scores([query])[0]
        best, w = float(second.max()), self.weight
        sources = (
            f"{self.first.name} × {w:.2g}",
            f"{self.second.name} × {1 - w:.2g} ÷ {best:.2f} (its best)",
        )
        firsts = self.first.explain(query, rows) if self.reads(query) else [None] * len(rows)
        return [
            Explanation(
                float(fused[r]),
                self.unit,
                (
                    *(_scaled(a.parts, w, sources[0]) if a else ()),
                    *_scaled(b.parts, bm25_weight(best, w), sources[1]),
                ),
            )
            for r, a, b in zip(rows, firsts, self.second.explain(query, rows))
        ]


def _scaled(parts: tuple[Part, ...], scale: float, source: str) -> tuple[Part, ...]:
    """`parts` times `scale` (their words too), each marked as coming from `source`."""
    return tuple(
        Part(
            p.label,
            p.value * scale,
            tuple((word, v * scale) for word, v in p.words),
            source,
        )
        for p in parts
    )


def fit_weight(
    cosine: np.ndarray, bm25: np.ndarray, relevant: np.ndarray
) -> tuple[float, dict[float, float]]:
    """(the weight of `GRID` with the best full MRR@10, MRR@10 of every weight) for (Q, N) cosines,
    BM25 scores and relevance of tuning queries; ties go to the smaller weight (more BM25)."""
    if not len(relevant):
        raise ValueError(
            "no tuning query with a judged passage to fit the fusion weight on: raise --tune-fraction"
        )
    rel = torch.from_numpy(relevant)
    table = {
        w: round(float(per_query_metrics(torch.from_numpy(fuse(cosine, bm25, w)), rel)["mrr@10"].mean()), 4)
        for w in GRID
    }
    return max(table, key=lambda w: (table[w], -w)), table


def fitting_queries(corpus: Corpus, val_fraction: float, tune_fraction: float) -> tuple[dict, list[str]]:
    """(which queries, their ids) a fusion weight is fitted on: the tuning slice of the hash split, or,
    for a checkpoint trained before it existed (`tune_fraction` 0), its training queries, said so."""
    if tune_fraction > 0:
        split = {"split": "tuning", "hash_range": [val_fraction, round(val_fraction + tune_fraction, 6)]}
        return split, tune_queries(corpus, val_fraction, tune_fraction)
    split = {"split": "training (the checkpoint has no tuning slice)", "hash_range": [val_fraction, 1.0]}
    return split, split_queries(corpus, val_fraction)[0]


def fit_on_corpus(
    encoder,
    corpus: Corpus,
    qids: list[str],
    sample: int = 1000,
    seed: int = 13,
    passage_vectors: Encoded | None = None,
    bm25: BM25 | None = None,
) -> tuple[float, dict, int]:
    """`fit_weight` on up to `sample` of `qids` (a fixed random sample) over every passage of
    `corpus`: (weight, MRR@10 by weight, queries used). Vectors and a fitted BM25 may be passed in."""
    if not qids:
        raise ValueError(
            "no tuning query with a judged passage to fit the fusion weight on: raise --tune-fraction"
        )
    rng = np.random.default_rng(seed)
    qids = [qids[i] for i in sorted(rng.permutation(len(qids))[:sample])]
    texts = corpus.texts()
    vectors = encoder.encode_passages(texts) if passage_vectors is None else passage_vectors
    bm25 = bm25 or BM25().fit(texts, list(corpus.passages.pid))
    query_text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    queries = [query_text[q] for q in qids]
    weight, table = fit_weight(
        encoder.encode_queries(queries).scores(vectors), bm25.scores(queries), corpus.relevance(qids)
    )
    return weight, table, len(qids)


def read_weights(artifacts: str | Path) -> dict:
    """artifacts/hybrid.json: {checkpoint name: {"weight", "checkpoint", "fitted_on", "queries",
    "mrr@10 by weight"}}; a `CheckpointError` naming the file when it is not such JSON."""
    path = Path(artifacts) / "hybrid.json"
    try:
        found = read_json(path, {})
    except (ValueError, RecursionError) as e:
        raise _damaged(path, f"not JSON: {e}") from e
    if not isinstance(found, dict):
        raise _damaged(path, "not a JSON object")
    return found


def weight_for(artifacts: str | Path, fingerprint: str) -> float | None:
    """The weight fitted for the checkpoint file with this fingerprint beside this BM25, or None."""
    for entry in read_weights(artifacts).values():
        if isinstance(entry, dict) and entry.get("checkpoint") == fingerprint:
            weight = entry.get("weight")
            ok = isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 <= weight <= 1
            if not ok:
                raise _damaged(
                    Path(artifacts) / "hybrid.json", f"a weight of {weight!r}, not one from 0 to 1"
                )
            return float(weight) if entry.get("bm25") == BM25_VERSION else None  # another BM25's: refit
    return None


def _damaged(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path} is damaged ({what}); delete it and run `python -m core build` to fit the fusion "
        "weights again"
    )


def save_weight(
    artifacts: str | Path,
    name: str,
    fingerprint: str,
    weight: float,
    table: dict,
    queries: int,
    fitted_on: dict,
) -> None:
    weights = read_weights(artifacts)
    weights[name] = {
        "weight": weight,
        "checkpoint": fingerprint,
        "bm25": BM25_VERSION,
        "fitted_on": fitted_on,
        "queries": queries,
        "mrr@10 by weight": {str(w): m for w, m in table.items()},
    }
    write_json(Path(artifacts) / "hybrid.json", weights)
