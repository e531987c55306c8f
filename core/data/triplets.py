"""Training triplets (query, positive, negative) as ids; texts are looked up by the collator.

Negatives are drawn from a pool that excludes every validation query's positives, and a
negative is never one of the query's own positives. Queries with several positives give one
triplet per positive.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.common.artifacts import write_json
from core.data.corpus import Corpus

Triplet = tuple[str, ...]  # (query_id, positive pid, negative pid, ...): one or more explicit negatives


def negative_pool(corpus: Corpus, held_out_qids: list[str]) -> np.ndarray:
    """Passage ids that may serve as negatives: all but the held-out (validation, tuning) queries'
    positives."""
    held_out = set().union(*(corpus.positives[q] for q in held_out_qids)) if held_out_qids else set()
    return np.array([p for p in corpus.passages.pid if p not in held_out])


def _random_negative(pool: np.ndarray, positives: set[str], rng: np.random.Generator) -> str:
    if len(pool) <= len(positives):
        raise ValueError("the negative pool holds no passage that is not a positive")
    while True:
        neg = pool[rng.integers(len(pool))]
        if neg not in positives:
            return str(neg)


def random_triplets(
    corpus: Corpus, qids: list[str], pool: np.ndarray, rng: np.random.Generator, k: int = 1
) -> list[Triplet]:
    """One tuple per (query, positive), with `k` random negatives."""
    return [
        (q, pos, *(_random_negative(pool, corpus.positives[q], rng) for _ in range(k)))
        for q in qids
        for pos in sorted(corpus.positives[q])
    ]


def hard_triplets(
    corpus: Corpus,
    qids: list[str],
    mined: dict[str, list[str]],
    pool: np.ndarray,
    rng: np.random.Generator,
    random_mix: float = 0.0,
    k: int = 1,
) -> list[Triplet]:
    """One tuple per (query, positive), with `k` negatives drawn from the query's mined list (distinct
    while it lasts); each is a random one instead with probability `random_mix`, or when nothing was
    mined for the query."""
    out = []
    for q in qids:
        hard = [n for n in mined.get(q, []) if n not in corpus.positives[q]]
        for pos in sorted(corpus.positives[q]):
            picks = np.resize(rng.permutation(hard), k) if hard else [None] * k  # repeats past the list
            out.append(
                (
                    q,
                    pos,
                    *(
                        str(p)
                        if p is not None and rng.random() >= random_mix
                        else _random_negative(pool, corpus.positives[q], rng)
                        for p in picks
                    ),
                )
            )
    return out


def save_mined(path: str | Path, mined: dict[str, list[str]], provenance: dict) -> None:
    """Mined negatives as JSON: {"provenance": {...}, "negatives": {query_id: [pid, ...]}}."""
    write_json(path, {"provenance": provenance, "negatives": mined})


def load_mined(path: str | Path) -> tuple[dict[str, list[str]], dict]:
    """(negatives by query id, provenance) of a mined file; a missing or unreadable one raises with
    its name and the command that makes it."""
    path = Path(path)
    remedy = f"run `python -m core mine --checkpoint artifacts/warmup/model.pt --out {path}` (or `build`)"
    if not path.is_file():
        raise FileNotFoundError(f"mined negatives {path} not found: {remedy} first")
    try:
        d = json.loads(path.read_bytes())
        negatives, provenance = d["negatives"], d.get("provenance", {})
        if not (
            isinstance(negatives, dict)
            and all(isinstance(v, list) for v in negatives.values())
            and isinstance(provenance, dict)
        ):
            raise TypeError("wrong types")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"mined negatives {path} are unreadable ({type(e).__name__}: {e}); {remedy} again"
        ) from e
    return negatives, provenance
