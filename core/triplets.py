"""Training triplets (query, positive, negative) as ids; texts are looked up by the collator.

Negatives are drawn from a pool that excludes every validation query's positives, and a
negative is never one of the query's own positives. Queries with several positives give one
triplet per positive.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.artifacts import write_json
from core.data import Corpus

Triplet = tuple[str, str, str]  # (query_id, positive pid, negative pid)


def negative_pool(corpus: Corpus, val_qids: list[str]) -> np.ndarray:
    """Passage ids that may serve as negatives: all but the validation queries' positives."""
    held_out = set().union(*(corpus.positives[q] for q in val_qids)) if val_qids else set()
    return np.array([p for p in corpus.passages.pid if p not in held_out])


def _random_negative(pool: np.ndarray, positives: set[str], rng: np.random.Generator) -> str:
    if len(pool) <= len(positives):
        raise ValueError("the negative pool holds no passage that is not a positive")
    while True:
        neg = pool[rng.integers(len(pool))]
        if neg not in positives:
            return str(neg)


def random_triplets(
    corpus: Corpus, qids: list[str], pool: np.ndarray, rng: np.random.Generator
) -> list[Triplet]:
    return [
        (q, pos, _random_negative(pool, corpus.positives[q], rng))
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
) -> list[Triplet]:
    """Each triplet takes a negative drawn from the query's mined list; with probability
    `random_mix` (or when nothing was mined for the query) a random one instead."""
    out = []
    for q in qids:
        hard = [n for n in mined.get(q, []) if n not in corpus.positives[q]]
        for pos in sorted(corpus.positives[q]):
            if hard and rng.random() >= random_mix:
                out.append((q, pos, hard[rng.integers(len(hard))]))
            else:
                out.append((q, pos, _random_negative(pool, corpus.positives[q], rng)))
    return out


def save_mined(path: str | Path, mined: dict[str, list[str]], provenance: dict) -> None:
    """Mined negatives as JSON: {"provenance": {...}, "negatives": {query_id: [pid, ...]}}."""
    write_json(path, {"provenance": provenance, "negatives": mined})


def load_mined(path: str | Path) -> tuple[dict[str, list[str]], dict]:
    """(negatives by query id, provenance) of a mined file; a missing or unreadable one raises with
    its name and the command that makes it."""
    path = Path(path)
    remedy = f"run `python -m core mine --checkpoint artifacts/random/model.pt --out {path}` (or `build`)"
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
