"""A toy ranker for the registry's acceptance tests: random scores, the same for the same query over
the same passages. Adding it is this module and one line in `core.retrieval.registry.REGISTRY`
(`"random-scores": RandomScores`), which the `toy_ranker` fixture (tests/conftest.py) adds."""

from __future__ import annotations

import zlib

import numpy as np

from core.retrieval.catalog import Passages
from core.retrieval.ranker import Ranker


class RandomScores(Ranker):
    unit = "random"

    def __init__(self, name: str = "random-scores", setting=None):
        self.name = name

    def _fit(self, passages: Passages) -> None:
        self.size = len(passages)

    def scores(self, queries: list[str]) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(q.encode())).random(self.size) for q in queries]
        return np.array(rows, dtype=np.float32).reshape(len(queries), self.size)
