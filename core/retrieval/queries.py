"""Query handling: what a typed query must be to be searched, the tokens a model sees in it, its
content words (for highlighting and the no-answer check) and their stems, and whether it reads as a
question."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.data.text import tokenize
from core.data.vocab import UNK_ID, Vocab
from core.retrieval.bm25 import bm25_tokens, word_terms

MAX_QUERY_CHARS = 1000
TRIMMED = " ?!.,;:¿¡…\"'"  # around a query, never part of what it asks
QUESTION_WORDS = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "do",
    "does",
    "did",
    "can",
    "could",
    "should",
    "would",
    "i",
    "you",
    "your",
    "my",
    "we",
    "me",
}  # not highlighted
QUESTION_STARTS = {"what", "which", "who", "when", "where", "why", "how", "is", "are", "does", "do", "can"}


class QueryError(ValueError):
    """A query the engines cannot search; the message is meant for the person who typed it."""


@dataclass(frozen=True)
class QueryToken:
    text: str
    known: bool  # False: the model saw <unk>


def query_tokens(vocab: Vocab, text: str, max_len: int | None = None) -> tuple[list[QueryToken], int]:
    """The tokens the model sees for `text` (an unknown compound shows as its known parts, as
    `Vocab.token_ids` maps it) and how many were cut off beyond `max_len`."""
    seen: list[QueryToken] = []
    dropped = 0
    for tok in tokenize(text):
        ids = vocab.token_ids([tok])
        parts = (
            [QueryToken(tok, False)]
            if ids == [UNK_ID]
            else [QueryToken(vocab.int_to_vocab[i], True) for i in ids]
        )
        room = len(parts) if max_len is None else max(max_len - len(seen), 0)
        seen += parts[:room]
        dropped += len(parts) - len(parts[:room])
    return seen, dropped


def validate_query(text: str, vocab: Vocab | None = None) -> str:
    """The query with its whitespace collapsed, or a `QueryError` saying what to change. Queries
    longer than MAX_QUERY_CHARS are refused, not cut; with `vocab`, so is a query none of whose
    words the model knows (emoji, gibberish), since it would search with the <unk> vector alone."""
    query = " ".join(str(text or "").split())
    if not query:
        raise QueryError("Type a question or a few words to search for.")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"That query is {len(query):,} characters long; queries can be at most "
            f"{MAX_QUERY_CHARS:,} characters. Shorten it to the question you want answered."
        )
    if vocab is not None:
        tokens, _ = query_tokens(vocab, query)
        if not any(t.known and any(ch.isalnum() for ch in t.text) for t in tokens):
            raise QueryError(
                f"None of the words in your query are in the model's vocabulary ({len(vocab):,} "
                "English words from GloVe), so there is nothing to search with. Try plain English words."
            )
    return query


def query_key(text: str) -> str:
    """How a typed query is matched to a dataset query: case, whitespace and the punctuation that ends
    or starts it ("what is dysgraphia?" is "what is dysgraphia") do not matter."""
    return " ".join(str(text).lower().split()).strip(TRIMMED)


def content_words(query: str) -> list[str]:
    """The query's content words: its BM25 terms (no stopwords) less question words, in order, once each."""
    words = [t for t in bm25_tokens(query) if re.search(r"\w", t) and t not in QUESTION_WORDS]
    return list(dict.fromkeys(words))


SUFFIXES = (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""))


STEM_LETTERS = 8  # a stem keeps at most this many letters: "patriarchal" and "patriarchy" meet


def stem(word: str) -> str:
    """A word's plain form, for matching a query word to a passage's in another form: plural and verb
    endings cut until none is left, and at most STEM_LETTERS letters kept ("eggs" -> "egg"; "boiled",
    "boiling" -> "boil"; "symptoms" -> "symptom"; "bake", "baked" -> "bak"), always three or more."""
    for suffix, plain in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return stem(word[: -len(suffix)] + plain)
    return word[:STEM_LETTERS]


def stems(words: list[str]) -> set[str]:
    """The stems of `words` and of their parts ("bethune-cookman": also "bethune" and "cookman")."""
    return {stem(p) for w in words for p in {w, *re.split(r"[-/.']", w)} if p}


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is a query word) pieces: the query's content words as whole words,
    case-insensitively, and any other word of `text` BM25 counts as one of their terms (its stem:
    "runs" for "running")."""
    words = content_words(query)
    if not words:
        return [(text, False)] if text else []
    wanted = {t for terms in word_terms(words) for t in terms}
    exact = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
    found = list(re.finditer(rf"(?<!\w)({exact})(?!\w)|[^\W_]+", text, re.IGNORECASE))
    others = word_terms([m.group(0).lower() for m in found])
    pieces, last = [], 0
    for m, terms in zip(found, others):
        if m.group(1) is None and not wanted.intersection(terms):
            continue
        if m.start() > last:
            pieces.append((text[last : m.start()], False))
        pieces.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


def readable(query: str, vocab: Vocab | None) -> bool:
    """Whether a query reads as a question a class can follow: it starts with a question word, has
    four words or more, all of them letters and known to the model (no sums like '3/5 of 60'; with no
    vocabulary, as for BM25, every word is known)."""
    words = tokenize(query)
    return (
        len(words) >= 4
        and words[0] in QUESTION_STARTS
        and all(w.isalpha() for w in words)
        and (vocab is None or all(t.known for t in query_tokens(vocab, query)[0]))
    )
