"""Adapting a checkpoint to a corpus without labels: its pseudo-queries (core.data.pseudo) as the
training queries of a corpus of their own, the checkpoint grown by the corpus's words
(core.model.new_words) as the start, random or BM25-mined negatives, and `train` as for any run. The
corpus's judged queries are never trained on: they measure the result (`eval --corpus`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from core.common.config import Config
from core.data.corpus import Corpus
from core.data.pseudo import PseudoQuery
from core.data.text import tokenize
from core.data.triplets import save_mined
from core.model.encoder import Encoder
from core.model.new_words import with_words
from core.model.two_tower import save_checkpoint
from core.retrieval.bm25 import BM25
from core.training.session import trained_queries

REST = "#rest"  # an ICT query's positive, its passage less the cut sentence: pid + REST
BM25_DEPTH, BM25_SKIP, BM25_KEEP = 30, 3, 10  # candidates per query, the top ones skipped, negatives kept
CHUNK = 1000  # pseudo-queries scored by BM25 at once


def adapted_name(start: str, corpus: str) -> str:
    """The adapted checkpoint's name: `hard@scifact`."""
    return f"{start}@{corpus}"


def training_corpus(corpus: Corpus, queries: list[PseudoQuery], seed: int) -> Corpus:
    """A corpus to train on: the corpus's passages, and each removed-sentence ICT query's positive
    (the rest of its passage) as a passage of its own; the pseudo-queries, shuffled under `seed` (so
    that the first N of them are drawn from the whole corpus), as its queries, each judged for the
    one passage it should find."""
    queries = [queries[i] for i in np.random.default_rng(seed).permutation(len(queries))]
    rests = [(q.pid + REST, q.rest) for q in queries if q.rest is not None]
    passages = pd.concat(
        [corpus.passages[["pid", "text"]], pd.DataFrame(rests, columns=["pid", "text"])], ignore_index=True
    )
    ids = [f"pq{i}" for i in range(len(queries))]
    return Corpus(
        passages=passages.drop_duplicates("pid"),
        queries=pd.DataFrame({"query_id": ids, "text": [q.query for q in queries]}),
        qrels={qid: {q.pid + (REST if q.rest is not None else ""): 1} for qid, q in zip(ids, queries)},
        source=f"pseudo-queries of {corpus.source}",
    )


def grown_start(checkpoint: Path, corpus: Corpus, out: Path) -> Path:
    """The checkpoint with its vocabulary grown by the corpus's words, written to `out` (the start of
    an adaptation: the words of the corpus count from the first step)."""
    encoder = with_words(Encoder.from_checkpoint(checkpoint), [tokenize(t) for t in corpus.texts()])
    save_checkpoint(out, encoder.model, encoder.vocab, encoder.meta)
    return out


def bm25_negatives(train: Corpus, qids: list[str]) -> dict[str, list[str]]:
    """Each query's BM25 negatives on the training corpus: its best-ranked passages that are not its
    positive (nor its passage's ICT rest), the first BM25_SKIP skipped (likely answers nobody judged)."""
    index = BM25().fit(train.texts(), list(train.passages.pid))
    text = dict(zip(train.queries.query_id, train.queries.text))
    mined = {}
    for start in range(0, len(qids), CHUNK):
        chunk = qids[start : start + CHUNK]
        for qid, hits in zip(chunk, index.batch_search([text[q] for q in chunk], BM25_DEPTH)):
            own = {p.removesuffix(REST) for p in train.positives[qid]}
            kept = [h.docid for h in hits if h.docid.removesuffix(REST) not in own]
            mined[qid] = kept[BM25_SKIP : BM25_SKIP + BM25_KEEP]
    return mined


def adapt_config(
    cfg: Config, start: Path, negatives: str, workdir: Path, train: Corpus, epochs: int, max_queries: int
) -> Config:
    """`cfg`'s round settings continuing `start` on `train` for `epochs` over its first `max_queries`
    training queries (0: all), with random or BM25-mined negatives (mined for those queries only)."""
    run = dict(init_from=str(start), epochs=epochs, max_queries=max_queries)
    tc = dataclasses.replace(cfg.round, negatives="random", hard_file=None, **run)
    cfg = dataclasses.replace(cfg, train=tc)
    if negatives == "bm25":
        path = workdir / "bm25_negatives.json"
        save_mined(path, bm25_negatives(train, trained_queries(cfg, train)), {"source": "bm25"})
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(tc, negatives="hard", hard_file=str(path)))
    return cfg
