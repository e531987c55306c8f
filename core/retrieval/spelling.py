"""Spelling suggestions from a corpus's own words: a query word the corpus (almost) never holds is
replaced by the most frequent corpus word one edit away, else two (a letter deleted, swapped,
replaced or inserted), as Norvig's corrector does; "diabetis symtoms" -> "diabetes symptoms"."""

from __future__ import annotations

import re
from collections import Counter

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORD = re.compile(r"[a-z]+")
RARE = 3  # a query word the corpus holds fewer times than this may be misspelt
MORE = 20  # a suggestion must be at least this many times as frequent as the word it replaces
MIN_LETTERS = 4  # shorter words are left alone: too many words lie one edit away
MAX_TWO = 12  # two edits away are looked for only in words this long or shorter that the corpus lacks


def _edits(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return {
        *(a + b[1:] for a, b in splits if b),
        *(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1),
        *(a + c + b[1:] for a, b in splits if b for c in LETTERS),
        *(a + c + b for a, b in splits for c in LETTERS),
    }


class Speller:
    """The words of a corpus and how often each occurs; `suggest` mends a query."""

    def __init__(self, texts):
        self.counts = Counter(w for text in texts for w in WORD.findall(text.lower()))
        self.mended: dict[str, str | None] = {}  # words looked up before: a rerun asks again

    def word(self, word: str) -> str | None:
        """The corpus word `word` was likely meant to be, or None (known enough, or nothing near)."""
        if word not in self.mended:
            self.mended[word] = self._nearest(word)
        return self.mended[word]

    def _nearest(self, word: str) -> str | None:
        seen = self.counts.get(word, 0)
        if seen >= RARE or len(word) < MIN_LETTERS:
            return None
        enough = max(MORE * seen, RARE)
        near = {w for w in _edits(word) if self.counts.get(w, 0) >= enough}
        if not near and not seen and len(word) <= MAX_TWO:
            near = {w for e in _edits(word) for w in _edits(e) if self.counts.get(w, 0) >= enough}
        return max(sorted(near), key=self.counts.__getitem__) if near else None

    def suggest(self, query: str) -> str | None:
        """`query` with each likely misspelt word replaced (case kept as typed, lower), or None when
        no word needs it."""
        words = re.split(r"([a-zA-Z]+)", query)
        mended = [self.word(w.lower()) or w if i % 2 else w for i, w in enumerate(words)]
        return "".join(mended) if mended != words else None
