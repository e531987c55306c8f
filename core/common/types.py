"""Small types shared across modules: a search hit, and the callbacks long work reports through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, as every searcher returns it (Pyserini style)."""

    docid: str
    score: float  # in the searcher's unit: cosine for dense ones, BM25 for the lexical one, fused
    missed: bool = False  # exact search ranks it within the top k; the approximate index did not return it


Progress = Callable[[float, str], None]  # (share of the work done, what is happening), for a progress bar
Tally = Callable[[int, int], None]  # (items done, items in all), called as a batch job advances
Hook = Callable[[str, dict], None]  # a training run's (event, log so far): "validating", "batch", ...


def pace(done: int, total: int, seconds: float) -> str:
    """How a `Tally` advances, for a progress bar's text: '2,410/s, about 35 s left'."""
    if done <= 0 or seconds <= 0:
        return "starting"
    rate = done / seconds
    left = (total - done) / rate
    return (
        f"{rate:,.0f}/s, about {left / 60:.0f} min left"
        if left >= 120
        else f"{rate:,.0f}/s, about {left:.0f} s left"
    )
