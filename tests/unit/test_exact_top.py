"""`search.exact_top`, the top k every searcher ranks by, equals a full stable sort: ties at the
cut go to the earlier passage, and a floor leaves out what scores at or below it."""

from __future__ import annotations

import numpy as np
import pytest

from core.retrieval.ranker import exact_top


def by_full_sort(scores: np.ndarray, k: int, floor: float | None = None) -> list[tuple[int, float, bool]]:
    rows = np.argsort(-scores, kind="stable")[:k]
    return [(int(r), float(scores[r]), False) for r in rows if floor is None or scores[r] > floor]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("k", [0, 1, 3, 10, 49, 50, 80])
def test_equals_a_full_stable_sort_with_ties(seed, k):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 50).astype(np.float32)  # six values over 50 passages: ties everywhere
    assert exact_top(scores, k) == by_full_sort(scores, k)
    assert exact_top(scores, k, floor=2.0) == by_full_sort(scores, k, floor=2.0)


def test_ties_at_the_cut_go_to_the_earlier_passage():
    assert [r for r, _, _ in exact_top(np.array([0.5, 0.9, 0.5, 0.5, 0.1]), 2)] == [1, 0]
