"""The app's view of the library: a query string in, plain result objects out.

An `Engine` is one checkpoint ready to search: its encoder, its Chroma index (built on first use,
with progress reported) and every passage vector as an exact matrix, so the rank of any passage,
the judged one included, is known over the whole corpus and not only within the top k. `Lexical`
puts BM25 behind the same `search`. `compare` runs one query through two of them, and
`example_queries` finds validation queries on which two checkpoints disagree. `KeyedCache` keeps
what the app opens once per process, one lock per checkpoint. An index found unreadable while
opening or searching is rebuilt, and the result carries a notice saying so.
Pages call only this module; it never imports streamlit.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from core.artifacts import folders_with
from core.bm25 import BM25, bm25_tokens
from core.collate import Encoder
from core.config import DataConfig
from core.data import Corpus, split_queries
from core.hybrid import PREFIX, fuse
from core.index import IndexBuild, SearchIndexError, chroma_client, ensure_index, set_aside_if_corrupt
from core.metrics import judged_rank, rank_of
from core.model import CheckpointError, file_fingerprint
from core.runs import run_checkpoints
from core.text import normalize, tokenize
from core.vocab import UNK_ID, Vocab

MAX_QUERY_CHARS = 1000
DEFAULT_VAL_FRACTION = DataConfig.val_fraction
PREFERRED = ("random", "hard")                      # checkpoints listed first, in this order
METRIC_MODELS = ("glove-avg", "bm25", "random", "hard", "hybrid:random", "hybrid:hard")
FULL_METRICS = ("mrr@10", "recall@1", "recall@10", "recall@100")
QUESTION_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did",
                  "can", "could", "should", "would", "i", "you", "your", "my", "we", "me"}   # not highlighted
QUESTION_STARTS = {"what", "which", "who", "when", "where", "why", "how", "is", "are", "does", "do", "can"}
FEW_PASSAGES = 3          # at most this many passages holding all of a query's words: likely no answer here

Progress = Callable[[float, str], None]              # (fraction done, what is happening)


class QueryError(ValueError):
    """A query the engines cannot search; the message is meant for the person who typed it."""


# --- where things are ----------------------------------------------------------------------------

def find_checkpoints(artifacts: Path) -> dict[str, Path]:
    """Every `artifacts/NAME/model.pt` by NAME: random and hard first, then the rest by name, then
    finished training runs (`artifacts/runs/ID/model.pt`) as run-ID."""
    found = folders_with(artifacts, "model.pt")
    found.update(run_checkpoints(artifacts))
    if not found:
        raise CheckpointError(f"no checkpoints in {artifacts}: run `python -m core build` to train "
                              "artifacts/random/model.pt and artifacts/hard/model.pt")
    order = [n for n in PREFERRED if n in found] + [n for n in found if n not in PREFERRED]
    return {n: found[n] for n in order}


def read_metrics(artifacts: Path) -> dict:
    """artifacts/metrics.json, or {} when it is missing or unreadable."""
    try:
        metrics = json.loads((Path(artifacts) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def metrics_note(metrics: dict) -> str:
    """What the metrics were measured on, as far as metrics.json says."""
    split, corpus = metrics.get("split") or {}, metrics.get("corpus") or {}
    parts = []
    if isinstance(split.get("val_queries"), int):
        share = f" ({split['val_fraction']:.1%} of the queries, never trained on)" if isinstance(
            split.get("val_fraction"), float) else ""
        parts.append(f"{split['val_queries']:,} validation queries{share}")
    if isinstance(corpus.get("passages"), int):
        parts.append(f"*full*: each ranking all {corpus['passages']:,} passages")
    return ("Measured on " + ", ".join(parts) + ". " if parts else "") + \
        "*rerank*: each query with two or more candidate passages in the data ranks only those."


def metrics_rows(metrics: dict) -> list[dict]:
    """One row per model with full-retrieval and rerank metrics, each mode with the number of queries
    it was measured on (None where not measured): the baselines, the two checkpoints and their
    hybrids first, whether or not metrics.json has them yet, then any other model it holds."""
    models = metrics.get("models") if isinstance(metrics, dict) else None
    models = models if isinstance(models, dict) else {}
    rows = []
    for name in [*METRIC_MODELS, *(m for m in models if m not in METRIC_MODELS)]:
        m = models.get(name) or {}
        full, rerank = m.get("full") or {}, m.get("rerank") or {}
        rows.append({"model": name, **{k: full.get(k) for k in FULL_METRICS}, "queries": full.get("queries"),
                     "rerank mrr@10": rerank.get("mrr@10"), "rerank queries": rerank.get("queries"),
                     "measured": bool(full or rerank)})
    return rows


# --- queries -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryToken:
    text: str
    known: bool      # False: the model saw <unk>


def query_tokens(vocab: Vocab, text: str, max_len: int | None = None) -> tuple[list[QueryToken], int]:
    """The tokens the model sees for `text` (an unknown compound shows as its known parts, as
    `Vocab.token_ids` maps it) and how many were cut off beyond `max_len`."""
    seen: list[QueryToken] = []
    dropped = 0
    for tok in tokenize(text):
        ids = vocab.token_ids([tok])
        parts = [QueryToken(tok, False)] if ids == [UNK_ID] else [QueryToken(vocab.int_to_vocab[i], True) for i in ids]
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
        raise QueryError(f"That query is {len(query):,} characters long; queries can be at most "
                         f"{MAX_QUERY_CHARS:,} characters. Shorten it to the question you want answered.")
    if vocab is not None:
        tokens, _ = query_tokens(vocab, query)
        if not any(t.known and any(ch.isalnum() for ch in t.text) for t in tokens):
            raise QueryError(f"None of the words in your query are in the model's vocabulary ({len(vocab):,} "
                             "English words from GloVe), so there is nothing to search with. Try plain English words.")
    return query


def query_key(text: str) -> str:
    """How a typed query is matched to a dataset query: case and whitespace do not matter."""
    return " ".join(str(text).lower().split())


def content_words(query: str) -> list[str]:
    """The query's content words: its BM25 terms (no stopwords) less question words, in order, once each."""
    words = [t for t in bm25_tokens(query) if re.search(r"\w", t) and t not in QUESTION_WORDS]
    return list(dict.fromkeys(words))


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is a query word) pieces, matching the query's content words as whole
    words, case-insensitively."""
    terms = sorted(content_words(query), key=len, reverse=True)
    if not terms:
        return [(text, False)] if text else []
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, terms)) + r")(?!\w)", re.IGNORECASE)
    pieces, last = [], 0
    for m in pattern.finditer(text):
        if m.start() > last:
            pieces.append((text[last : m.start()], False))
        pieces.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


# --- corpus --------------------------------------------------------------------------------------

class Catalog:
    """The corpus as the engines share it: passages by row, judged passages of dataset queries."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.pids = list(corpus.passages.pid)
        self.texts = list(corpus.passages.text)
        self.row = {pid: i for i, pid in enumerate(self.pids)}
        self.fingerprint = corpus.fingerprint()
        self.query_ids: dict[str, str] = {}
        for qid, text in zip(corpus.queries.query_id, corpus.queries.text):
            if corpus.positives[qid]:
                self.query_ids.setdefault(query_key(text), qid)

    def __len__(self) -> int:
        return len(self.pids)

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

    @cached_property
    def term_rows(self) -> dict[str, set[int]]:
        """The rows of the passages holding each term."""
        rows = defaultdict(set)
        for row, terms in enumerate(self.passage_terms):
            for t in terms:
                rows[t].add(row)
        return dict(rows)


@dataclass(frozen=True)
class Coverage:
    """How much of the corpus speaks of a query's content words."""
    words: list[str]         # the query's content words
    missing: list[str]       # those that occur in no passage
    together: int            # passages that hold every content word

    @property
    def thin(self) -> bool:
        """Whether the corpus likely holds no answer: at most FEW_PASSAGES passages hold all the words."""
        return bool(self.words) and self.together <= FEW_PASSAGES


def coverage(catalog: Catalog, query: str) -> Coverage:
    """Which of the query's content words occur in the corpus, and how many passages hold them all.
    The corpus is a sample of MS MARCO: a question none of its passages speaks of has no answer here,
    whatever the model does."""
    words = content_words(query)
    found = [catalog.term_rows.get(w, set()) for w in words]
    together = len(set.intersection(*found)) if found else 0
    return Coverage(words, [w for w, rows in zip(words, found) if not rows], together)


# --- results -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResultHit:
    rank: int        # 1-based, over the whole corpus
    pid: str
    score: float     # cosine similarity (BM25 score for the lexical engine)
    text: str
    judged: bool     # a passage MS MARCO judged relevant to this (dataset) query


@dataclass
class SearchResult:
    model: str
    query: str
    hits: list[ResultHit]
    encode_ms: float
    search_ms: float
    tokens: list[QueryToken]
    dropped_tokens: int                 # tokens past the model's query length, never seen
    query_id: str | None                # the dataset query the text matches, if any
    judged: ResultHit | None            # the best-ranked judged passage, wherever it ranks
    scores: np.ndarray = field(repr=False)   # every passage's score, in corpus order
    notice: str | None = None           # the index failed during this search and was rebuilt

    def rank_of(self, pid: str, row: int) -> int:
        """Rank of a passage over the whole corpus: its place in the top k, else from the scores, a
        tie counting against it as in `core.metrics.judged_rank`."""
        for h in self.hits:
            if h.pid == pid:
                return h.rank
        return rank_of(self.scores, row)


def _result(catalog: Catalog, model: str, query: str, top: list[tuple[int, float]], scores: np.ndarray,
            encode_ms: float, search_ms: float, tokens: list[QueryToken], dropped: int,
            floor: float | None = None) -> SearchResult:
    """Assemble a `SearchResult` from top-k (row, score) pairs and the scores of every passage.
    Passages scoring at or below `floor` count as not retrieved (BM25: no query word in them)."""
    qid, judged_rows = catalog.judged_rows(query)
    judged_set = set(judged_rows)
    hits = [ResultHit(i, catalog.pids[r], s, catalog.display_text(r), r in judged_set)
            for i, (r, s) in enumerate(top, 1)]
    result = SearchResult(model, query, hits, encode_ms, search_ms, tokens, dropped, qid, None, scores)
    reachable = [r for r in judged_rows if floor is None or scores[r] > floor]
    if reachable:
        best = max(reachable, key=lambda r: scores[r])
        pid = catalog.pids[best]
        result.judged = ResultHit(result.rank_of(pid, best), pid, float(scores[best]), catalog.display_text(best), True)
    return result


class Ranked:
    """What every searcher shares: `scores(texts) -> (Q, passages)` gives the exact score of every
    passage, from which the judged passages' ranks of dataset queries follow."""

    name: str
    catalog: Catalog
    val_fraction: float = DEFAULT_VAL_FRACTION

    def scores(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def query_scores(self, query_ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(score of each dataset query with every passage, which passages are judged), (Q, passages)."""
        queries = self.catalog.corpus.queries.set_index("query_id").text
        scores = torch.from_numpy(np.ascontiguousarray(self.scores([queries[q] for q in query_ids]), dtype=np.float32))
        rel = torch.zeros(scores.shape, dtype=torch.bool)
        for i, q in enumerate(query_ids):
            rel[i, [self.catalog.row[p] for p in self.catalog.corpus.positives[q]]] = True
        return scores, rel

    def judged_ranks(self, query_ids: list[str]) -> np.ndarray:
        """Rank of each dataset query's best judged passage over the whole corpus (exact scores)."""
        return judged_rank(*self.query_scores(query_ids)).numpy()

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        """(the tokens this ranker sees in `query`, unknown ones marked; tokens past its length limit)."""
        raise NotImplementedError


class Engine(Ranked):
    """One checkpoint, ready to search."""

    def __init__(self, name: str, checkpoint: str | Path, catalog: Catalog,
                 chroma_path: str | Path | None = None, progress: Progress | None = None):
        self.name, self.catalog = name, catalog
        self.encoder = Encoder.from_checkpoint(checkpoint)
        self.vocab = self.encoder.vocab
        self.val_fraction = float(self.encoder.meta.get("data", {}).get("val_fraction", DEFAULT_VAL_FRACTION))

        def report(done: int, total: int) -> None:   # encoding, then adding, every passage
            progress(0.95 * done / total, f"Indexing {len(catalog):,} passages with the {name} model (encode, "
                                          f"then store in Chroma): {done / total:.0%}")

        self.fingerprint = file_fingerprint(checkpoint)
        self.chroma_path, self._repairing = chroma_path, threading.Lock()
        made, self.notice = self._open_index(report if progress else False)    # notice: it was repaired
        self.index = made.index
        self.vectors = made.vectors if made.built else self.index.get_vectors(catalog.pids)
        self.search("warm up")      # torch's and Chroma's one-off set-up is not the first query's
        if progress:
            progress(1.0, f"The {name} model is ready")

    def _open_index(self, progress, force: bool = False) -> tuple[IndexBuild, str | None]:
        """(this checkpoint's index, opened or built; a notice when it had to be repaired). A Chroma
        folder whose database cannot be read is set aside and the index rebuilt in a fresh one."""
        def made(force: bool) -> IndexBuild:
            return ensure_index(chroma_client(self.chroma_path), self.encoder, self.name, self.fingerprint,
                                self.catalog.pids, self.catalog.texts, self.catalog.fingerprint, force=force,
                                progress=progress)
        try:
            return made(force), f"The {self.name} index failed, so it was rebuilt." if force else None
        except SearchIndexError:
            aside = set_aside_if_corrupt(self.chroma_path)
            if aside is None:
                raise
        return made(True), (f"The search index folder could not be read, so it was set aside as {aside} and "
                            f"the {self.name} index was rebuilt from the checkpoint.")

    def _query(self, vec: np.ndarray, k: int):
        """(top-k hits, None); when the index fails, it is repaired once (by one thread; the others wait
        for it) and searched again: (hits, the notice)."""
        index = self.index
        try:
            return index.query(vec, k)[0], None
        except SearchIndexError:
            with self._repairing:
                if self.index is index:
                    made, self.notice = self._open_index(False, force=True)
                    self.index = made.index
            return self.index.query(vec, k)[0], self.notice

    def search(self, query: str, k: int = 10) -> SearchResult:
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        vec = self.encoder.encode_queries([query])
        t1 = time.perf_counter()
        hits, notice = self._query(vec, k)
        scores = self.vectors @ vec[0]
        t2 = time.perf_counter()
        tokens, dropped = self.tokens(query)
        top = [(self.catalog.row[h.docid], h.score) for h in hits]
        result = _result(self.catalog, self.name, query, top, scores, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
                         tokens, dropped)
        result.notice = notice
        return result

    def encode_query(self, query: str) -> np.ndarray:
        """One query's unit vector."""
        return self.encoder.encode_queries([query])[0]

    def scores(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_queries(texts) @ self.vectors.T

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return query_tokens(self.vocab, query, self.encoder.query_len)


class KeyedCache:
    """Values made once per key and then kept, each key under a lock of its own: making one (opening a
    checkpoint and building its index, fitting a map) never waits for another key, and a value already
    made is returned without taking any lock."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._values: dict[Hashable, object] = {}

    def get(self, key: Hashable, make: Callable[[], object],
            replaces: Callable[[Hashable], bool] | None = None):
        """The value of `key`, made by `make()` the first time (once, however many threads ask); once
        made, the kept values of keys for which `replaces(key)` holds (older versions) are dropped."""
        value = self._values.get(key, self)
        if value is not self:
            return value
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                value = make()
                with self._guard:
                    for old in [k for k in self._values if replaces is not None and replaces(k)]:
                        del self._values[old]
                    self._values[key] = value
            return self._values[key]


class Lexical(Ranked):
    """BM25 over the same corpus, with the same `search` as an `Engine`."""

    name = "bm25"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.bm25 = BM25().fit(catalog.texts, catalog.pids)

    def scores(self, texts: list[str]) -> np.ndarray:
        return self.bm25.scores(texts)

    def search(self, query: str, k: int = 10) -> SearchResult:
        query = validate_query(query)
        t0 = time.perf_counter()
        scores = self.bm25.scores([query])[0]
        rows = [int(r) for r in np.argsort(-scores, kind="stable")[:k] if scores[r] > 0]
        t1 = time.perf_counter()
        return _result(self.catalog, self.name, query, [(r, float(scores[r])) for r in rows], scores,
                       0.0, (t1 - t0) * 1e3, *self.tokens(query), floor=0.0)

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return [QueryToken(t, True) for t in bm25_tokens(query)], 0


class Hybrid(Ranked):
    """A checkpoint fused with BM25 (`core.hybrid.fuse`, the checkpoint's fitted weight), searched
    exactly over every passage, with the same `search` as an `Engine`."""

    def __init__(self, engine: Engine, lexical: Lexical, weight: float):
        self.engine, self.lexical, self.weight = engine, lexical, weight
        self.name, self.catalog, self.vocab = PREFIX + engine.name, engine.catalog, engine.vocab
        self.val_fraction = engine.val_fraction

    def scores(self, texts: list[str]) -> np.ndarray:
        return fuse(self.engine.scores(texts), self.lexical.scores(texts), self.weight)

    def tokens(self, query: str) -> tuple[list[QueryToken], int]:
        return self.engine.tokens(query)

    def search(self, query: str, k: int = 10) -> SearchResult:
        query = validate_query(query, self.vocab)
        t0 = time.perf_counter()
        scores = self.scores([query])[0]
        rows = np.argsort(-scores, kind="stable")[:k]
        t1 = time.perf_counter()
        tokens, dropped = self.tokens(query)
        return _result(self.catalog, self.name, query, [(int(r), float(scores[r])) for r in rows], scores,
                       0.0, (t1 - t0) * 1e3, tokens, dropped)


# --- comparing two models ------------------------------------------------------------------------

@dataclass(frozen=True)
class Moved:
    hit: ResultHit
    other_rank: int      # the passage's rank in the other model, over the whole corpus
    new: bool            # not in the other model's top k

    @property
    def change(self) -> int:
        """Places this model ranks the passage above the other model (negative: below)."""
        return self.other_rank - self.hit.rank


@dataclass
class Comparison:
    left: SearchResult
    right: SearchResult
    left_moves: list[Moved]
    right_moves: list[Moved]
    overlap: float       # share of the top k both models return


def _moves(result: SearchResult, other: SearchResult, catalog: Catalog) -> list[Moved]:
    others = {h.pid for h in other.hits}
    return [Moved(h, other.rank_of(h.pid, catalog.row[h.pid]), h.pid not in others) for h in result.hits]


def compare(query: str, left: Engine, right: Engine, k: int = 10) -> Comparison:
    """One query through two engines, each hit with its rank in the other model."""
    a, b = left.search(query, k), right.search(query, k)
    overlap = len({h.pid for h in a.hits} & {h.pid for h in b.hits}) / max(min(k, len(left.catalog)), 1)
    return Comparison(a, b, _moves(a, b, left.catalog), _moves(b, a, left.catalog), overlap)


@dataclass(frozen=True)
class Example:
    query: str
    ranks: dict[str, int]    # model name -> rank of the judged passage over the whole corpus (first, second)

    @property
    def verdict(self) -> str:
        """'fixes' when the second model ranks the judged passage higher than the first, 'breaks' when
        lower, 'same' when both rank it alike."""
        first, second = self.ranks.values()
        return "fixes" if second < first else "breaks" if second > first else "same"


def readable(query: str, vocab: Vocab) -> bool:
    """Whether a query reads as a question a class can follow: it starts with a question word, has
    four words or more, all of them letters and known to the model (no sums like '3/5 of 60')."""
    words = tokenize(query)
    return (len(words) >= 4 and words[0] in QUESTION_STARTS and all(w.isalpha() for w in words)
            and all(t.known for t in query_tokens(vocab, query)[0]))


def example_queries(first: Engine, second: Engine, n: int = 6) -> list[Example]:
    """Readable validation queries on which the two checkpoints place the judged passage far apart
    while at least one puts it in its top 3: about two thirds won by `second`, the rest by `first`,
    biggest gap first; topped up with queries both answer at rank 1 when there are too few."""
    catalog = first.catalog
    texts = catalog.corpus.queries.set_index("query_id").text
    _, val = split_queries(catalog.corpus, first.val_fraction)
    val = [q for q in val if readable(texts[q], first.vocab) and readable(texts[q], second.vocab)]
    if not val:
        return []
    ra, rb = first.judged_ranks(val), second.judged_ranks(val)
    gap = np.log2(ra) - np.log2(rb)          # > 0: `second` ranks the judged passage higher

    def pick(rows, limit):
        return sorted(rows, key=lambda i: (-abs(gap[i]), len(texts[val[i]])))[:limit]

    second_wins = pick([i for i in range(len(val)) if rb[i] < ra[i] and rb[i] <= 3], n - n // 3)
    first_wins = pick([i for i in range(len(val)) if ra[i] < rb[i] and ra[i] <= 3], n // 3)
    chosen = second_wins + first_wins
    both = pick([i for i in range(len(val)) if ra[i] == rb[i] == 1], n - len(chosen))
    return [Example(texts[val[i]], {first.name: int(ra[i]), second.name: int(rb[i])}) for i in chosen + both]

