"""The passages a ranker is fitted on (`Passages`); the corpus as the rankers share it (`Catalog`):
passages by row, the judged passages of dataset queries; and whether the corpus likely holds no
answer to a query (the passages a model found never mention what was asked)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.data.corpora import DEFAULT
from core.data.corpus import Corpus
from core.data.text import normalize, tokenize
from core.retrieval.bm25 import bm25_terms, bm25_tokens, word_terms
from core.retrieval.queries import content_words, query_key, stems


class Passages:
    """What a ranker is fitted on (`Ranker.fit`): passage ids and texts, by row. With `new_words` (a
    corpus a checkpoint was not trained on), a ranker of fixed vocabulary grows it by their words
    (`core.model.new_words`)."""

    def __init__(self, pids: list[str], texts: list[str], new_words: bool = False):
        self.pids, self.texts, self.new_words = list(pids), list(texts), new_words
        self.row = {pid: i for i, pid in enumerate(self.pids)}

    def __len__(self) -> int:
        return len(self.pids)

    @cached_property
    def tokens(self) -> list[list[str]]:
        """Each passage's words as the checkpoints' vocabulary reads them, made on first use."""
        return [tokenize(t) for t in self.texts]

    def same(self, other: Passages | None) -> bool:
        """Whether `other` holds the same passages in the same order (a fitted ranker is reused)."""
        return other is self or (
            other is not None
            and (other.pids, other.texts, other.new_words) == (self.pids, self.texts, self.new_words)
        )


class Catalog(Passages):
    """The corpus as the rankers share it: passages by row, judged passages of dataset queries. An
    added corpus (`folder`: where its derived files are kept) is one the checkpoints were not trained
    on: they grow their vocabulary by its words, and its passage vectors are kept in `folder`."""

    def __init__(self, corpus: Corpus, name: str = DEFAULT, folder: Path | None = None):
        super().__init__(list(corpus.passages.pid), corpus.texts(), new_words=folder is not None)
        self.corpus, self.name, self.folder = corpus, name, folder
        self.fingerprint = corpus.fingerprint()
        self.vector_key = self.fingerprint + ("+words" if self.new_words else "")  # what vectors depend on
        self.query_ids: dict[str, str] = {}
        for qid, text in zip(corpus.queries.query_id, corpus.queries.text):
            if corpus.positives[qid]:
                self.query_ids.setdefault(query_key(text), qid)

    def judged_rows(self, query: str) -> tuple[str | None, list[int]]:
        """(dataset query id, rows of its judged passages) when `query` is a dataset query."""
        qid = self.query_ids.get(query_key(query))
        return qid, sorted(self.row[p] for p in self.corpus.positives[qid]) if qid else []

    def display_text(self, row: int) -> str:
        """The passage as a person should read it: mojibake repaired, typographic marks folded."""
        return normalize(self.texts[row])

    @cached_property
    def passage_terms(self) -> list[frozenset[str]]:
        """Each passage's BM25 terms, made on first use (a second or two for 20,000 passages)."""
        return [frozenset(bm25_tokens(t)) for t in self.texts]

    def stems(self, row: int) -> set[str]:
        """A passage's BM25 terms as `core.retrieval.queries.stems`."""
        return stems(bm25_tokens(self.texts[row]))

    @cached_property
    def corpus_stems(self) -> frozenset[str]:
        """The stems of every passage's terms, made on first use (a second or two)."""
        return frozenset(stems(list(frozenset().union(*self.passage_terms))))

    def terms(self, row: int) -> set[str]:
        """A passage's terms as BM25 counts them (Snowball stems)."""
        return set(bm25_terms(self.texts[row]))

    @cached_property
    def corpus_terms(self) -> frozenset[str]:
        """Every passage's terms as BM25 counts them, made on first use (a second or two)."""
        return frozenset(
            t for terms in word_terms(sorted(frozenset().union(*self.passage_terms))) for t in terms
        )


@dataclass(frozen=True)
class NoAnswer:
    """Why the corpus likely holds no answer to a query: the passages the model returned share none of
    its content words, in any form."""

    words: list[str]  # the query's content words
    unknown: list[str]  # those no passage contains in any form: not in this corpus, or misspelled


def no_answer(catalog: Catalog, query: str, pids: list[str]) -> NoAnswer | None:
    """A `NoAnswer` when none of the returned passages `pids` shares a content word with `query`, in
    any form: as `queries.stems` ("eggs" matches "egg", or the start of one) or as BM25 counts it (a
    Snowball stem: "running" matches "runs"). The corpus is a sample of MS MARCO: when even the best
    passages a model finds never mention what was asked, the answer is likely not here (or the query
    is misspelled), and the model is not to blame. A query with no content word gets None."""
    words = content_words(query)
    asked, terms = stems(words), word_terms(words)
    wanted = {t for ts in terms for t in ts}
    if not asked or any(
        _mentions(catalog.stems(catalog.row[p]), asked) or wanted & catalog.terms(catalog.row[p])
        for p in pids
    ):
        return None
    unknown = [
        w
        for w, ts in zip(words, terms)
        if not _mentions(catalog.corpus_stems, stems([w])) and not catalog.corpus_terms.intersection(ts)
    ]
    return NoAnswer(words, unknown)


def _mentions(terms, asked: set[str]) -> bool:
    """Whether a stem of `terms` begins with one of the `asked` stems (also "aus" in "australia", "lh"
    in "lhrh": a query's abbreviation of a passage's word)."""
    return any(t.startswith(q) for t in terms for q in asked)
