"""What a score adds up from: `Explanation` (a ranker's score and its `Part`s, which add up to it to
rounding, each with the words it owes to), as every ranker's `explain` returns it (`core.retrieval.ranker`),
and a checkpoint's score taken apart (`core.model.encoder.CosineParts`): meaning and shared words."""

from __future__ import annotations

from dataclasses import dataclass

from core.model.encoder import CosineParts


@dataclass(frozen=True)
class Part:
    """One part of a score: what it measures, its value, and the words it owes to (largest first)."""

    label: str  # "meaning" (a checkpoint's dense part), "shared words" (its lexical part, or BM25)
    value: float
    words: tuple[tuple[str, float], ...] = ()  # (word, share); a lexical part's add up to `value`
    source: str = ""  # in a fused score, the weighted ranker it comes from: "hard × 0.8"


@dataclass(frozen=True)
class Explanation:
    """A ranker's score of one passage for one query and the parts it adds up from (to rounding)."""

    score: float
    unit: str
    parts: tuple[Part, ...]


def word_shares(shares: dict[str, float], scale: float = 1.0) -> tuple[tuple[str, float], ...]:
    """(word, share × `scale`), largest first."""
    return tuple(sorted(((w, v * scale) for w, v in shares.items()), key=lambda wv: -wv[1]))


def split_parts(split: CosineParts, scale: float = 1.0, source: str = "") -> tuple[Part, Part]:
    """A checkpoint's score split (`Encoder.explain`) as its two parts, each times `scale`."""
    return (
        Part("meaning", split.dense * scale, source=source),
        Part(
            "shared words",
            split.lexical * scale,
            word_shares(split.words, scale),
            source,
        ),
    )
