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
