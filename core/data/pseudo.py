"""Pseudo-queries cut from a corpus's own passages, for training without labels: a passage's title
(where it has one); a sentence cut out of it (the inverse cloze task: the rest of the passage is what
the sentence should find, the sentence kept in it now and then, as Lee et al. and Chang et al. do);
and random spans of it (cropping, as Contriever does). Deterministic under a seed (each passage's
draws depend on the seed and its id only), deduplicated, and filtered: a query of fewer than
MIN_WORDS words, or of stop words only, is dropped. Stored as JSON lines, a header line first."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from core.common.artifacts import write_text
from core.common.settings import CHOICES
from core.data.corpora import corpus_dir
from core.data.corpus import Corpus, DataSourceError
from core.data.text import LUCENE_STOP_WORDS, tokenize

KINDS = tuple(CHOICES["pseudo"])  # title, ict, crop
MIN_WORDS = 2  # tokens a query needs, at least one of them not a stop word
KEEP_SENTENCE = 0.1  # how often ICT leaves the cut sentence in its passage (the paper's 10%)
CROPS = 2  # spans cut from each passage
CROP_SHARE = (0.1, 0.5)  # a span's length, as a share of its passage's words (Contriever's range)
HEADER = "pseudo_queries"  # the key of the file's first line
FILE = "pseudo_queries.jsonl"  # in the corpus's folder (`pseudo_path`)
# after an end mark and a space, before a capital, digit or quote; or, with no space, between a word of
# two lower-case letters or more and a capitalised word ("disease.Recent", as abstracts run together)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")
# in a text with no capital at all (a collection folded to lower case): after an end mark and a space
_FOLDED_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[a-z0-9])")
_STOP = set(LUCENE_STOP_WORDS)


@dataclass(frozen=True)
class PseudoQuery:
    kind: str  # one of KINDS
    query: str
    pid: str  # the passage it was cut from, and what it should find
    rest: str | None = None  # ICT: the passage less the cut sentence (None: the passage itself)


def sentences(text: str) -> list[str]:
    """`text` split after each '.', '!' or '?' that a space and a capital, digit or quote follow, or that
    ends a lower-case word and runs into a capitalised one; in a text with no capital letter at all,
    after each one a space follows."""
    end = _SENTENCE_END if any(ch.isupper() for ch in text) else _FOLDED_END
    return [s.strip() for s in end.split(text.strip()) if s.strip()]


def usable(query: str) -> bool:
    """A query worth training on: MIN_WORDS tokens or more, at least one a word that is not a stop word."""
    tokens = tokenize(query)
    content = [t for t in tokens if t not in _STOP and any(ch.isalnum() for ch in t)]
    return len(tokens) >= MIN_WORDS and bool(content)


def _ict(text: str, rng: random.Random) -> PseudoQuery | None:
    parts = sentences(text)
    if len(parts) < 2:
        return None
    i = rng.randrange(len(parts))
    kept = rng.random() < KEEP_SENTENCE
    rest = None if kept else " ".join(parts[:i] + parts[i + 1 :])
    return PseudoQuery("ict", parts[i], "", rest)


def _crops(text: str, rng: random.Random) -> list[PseudoQuery]:
    words = text.split()
    out = []
    for _ in range(CROPS if len(words) >= 2 * MIN_WORDS else 0):
        low, high = (max(MIN_WORDS, round(share * len(words))) for share in CROP_SHARE)
        size = rng.randint(low, max(low, high))
        start = rng.randrange(len(words) - size + 1)
        out.append(PseudoQuery("crop", " ".join(words[start : start + size]), ""))
    return out


def for_passage(pid: str, title: str, text: str, seed: int) -> list[PseudoQuery]:
    """The pseudo-queries of one passage, drawn by a generator seeded with `seed` and `pid` only."""
    rng, title = random.Random(f"{seed}:{pid}"), title.strip()
    made = [PseudoQuery("title", title, "")] if title and title != text.strip() else []
    made += [q for q in [_ict(text, rng)] if q]
    made += _crops(text, rng)
    return [PseudoQuery(q.kind, q.query, pid, q.rest) for q in made]


def pseudo_queries(corpus: Corpus, seed: int = 13) -> list[PseudoQuery]:
    """Every passage's pseudo-queries (`for_passage`), in corpus order, the usable ones (`usable`), each
    query text once (the first passage to make it keeps it)."""
    seen: set[str] = set()
    out = []
    passages = corpus.passages
    for pid, title, text in zip(passages.pid.tolist(), passages.title.tolist(), passages.text.tolist()):
        for q in for_passage(pid, title or "", text, seed):
            key = " ".join(q.query.lower().split())
            if key not in seen and usable(q.query) and (q.rest is None or q.rest.strip()):
                seen.add(key)
                out.append(q)
    return out


def pseudo_path(name: str, artifacts: Path | None = None) -> Path:
    """Where corpus `name`'s pseudo-queries are kept: its folder under artifacts/corpora/ (the demo
    corpus's too)."""
    return corpus_dir(name, artifacts) / FILE


def counts(queries: list[PseudoQuery]) -> dict[str, int]:
    """How many pseudo-queries of each kind."""
    made = Counter(q.kind for q in queries)
    return {kind: made[kind] for kind in KINDS}


def write_pseudo(path: Path, queries: list[PseudoQuery], corpus: Corpus, seed: int) -> None:
    """`queries` as JSON lines after a header line (the corpus's fingerprint, the seed, the counts),
    written whole or not at all."""
    header = {HEADER: {"corpus": corpus.fingerprint(), "seed": seed, "counts": counts(queries)}}
    rows = [{k: v for k, v in asdict(q).items() if v is not None} for q in queries]
    lines = [json.dumps(header), *map(json.dumps, rows)]
    write_text(path, "\n".join(lines) + "\n")


def sample_pseudo(path: Path, per_kind: int = 4) -> tuple[dict, list[PseudoQuery]]:
    """(the header `write_pseudo` wrote, the first `per_kind` pseudo-queries of each kind in the file's
    order), read no further than needed; a damaged file is a `DataSourceError`."""
    try:
        with Path(path).open() as f:
            header, taken = json.loads(f.readline())[HEADER], []
            wanted = {kind: min(per_kind, n) for kind, n in header["counts"].items()}
            for line in f:
                if len(taken) == sum(wanted.values()):
                    break
                q = PseudoQuery(**json.loads(line))
                if sum(t.kind == q.kind for t in taken) < wanted[q.kind]:
                    taken.append(q)
        return header, taken
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataSourceError(
            f"{path} is not a pseudo-query file ({type(e).__name__}: {e}); write it again with "
            "`python -m core pseudo --corpus NAME`"
        ) from e
