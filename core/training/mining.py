"""Hard-negative mining with a trained checkpoint: its own stage between two training rounds
(`mine_file`, run by `python -m core mine` and by the build).

For each training query, retrieve the top `depth` passages, drop the query's positives and
near-duplicates of them (same normalised text, or cosine above `dup_threshold`), drop passages
outside the negative pool (validation and tuning queries' positives), optionally drop those the checkpoint
scores above the query's own positive, skip the first `skip` survivors (likely unjudged positives)
and keep the next `keep`. Optionally add BM25's top passages, and the query's own candidates from
the data (the official BM25-mined negatives of train_extra.jsonl), too.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from core.common.artifacts import key_of
from core.common.config import BuildConfig, Config
from core.common.types import Tally
from core.data.corpus import Corpus, split_queries, tune_queries
from core.data.text import normalize
from core.data.triplets import load_mined, negative_pool, save_mined
from core.model.encoder import Checkpoint
from core.retrieval.bm25 import BM25
from core.retrieval.vectors import ExactIndex


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", normalize(text).lower()).strip()


def mine_negatives(
    encoder,
    index,
    corpus: Corpus,
    qids: list[str],
    pool: set[str],
    cfg: BuildConfig,
    bm25=None,
    batch: int = 256,
    progress: Tally | None = None,
) -> dict[str, list[str]]:
    """{query_id: [negative pid, ...]} best-ranked first. `encoder` embeds the queries, `index`
    (`query`, `get_vectors`) holds the passage vectors; `bm25` (optional) is a searcher whose top
    passages are appended; with `cfg.file_negatives` the query's own candidates from the data too.
    `progress` is told (queries mined, queries in all) after each batch."""
    query_text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    passage_norm = {pid: _norm(t) for pid, t in zip(corpus.passages.pid, corpus.texts())}
    mined = {}
    for start in range(0, len(qids), batch):
        chunk = qids[start : start + batch]
        texts = [query_text[q] for q in chunk]
        qvecs = encoder.encode_queries(texts)
        dense = index.query(qvecs, cfg.mine_depth)
        lexical = (
            bm25.batch_search(texts, cfg.bm25_negatives) if bm25 is not None and cfg.bm25_negatives else None
        )
        needed = sorted(
            {h.docid for hits in dense for h in hits} | {p for q in chunk for p in corpus.positives[q]}
        )
        vecs = index.get_vectors(needed)  # one lookup per chunk
        row = {pid: i for i, pid in enumerate(needed)}
        for i, q in enumerate(chunk):
            positives = sorted(corpus.positives[q])
            pos_texts = {passage_norm[p] for p in positives}

            def usable(pid: str) -> bool:
                return pid in pool and pid not in corpus.positives[q] and passage_norm[pid] not in pos_texts

            cands = [h for h in dense[i] if usable(h.docid)]
            if cands:
                pos_vecs = vecs[[row[p] for p in positives]]
                sims = vecs[[row[h.docid] for h in cands]].scores(pos_vecs)  # (C, P)
                best_positive = float(qvecs[i].scores(pos_vecs).max())
                cands = [
                    h
                    for h, s in zip(cands, sims.max(1))
                    if s < cfg.dup_threshold and not (cfg.drop_above_positive and h.score > best_positive)
                ]
            negatives = [h.docid for h in cands[cfg.mine_skip : cfg.mine_skip + cfg.mine_keep]]
            extra = [h.docid for h in lexical[i]] if lexical is not None else []
            extra += corpus.candidates[q] if cfg.file_negatives else []
            negatives += [p for p in dict.fromkeys(extra) if usable(p) and p not in negatives]
            mined[q] = negatives
        if progress:
            progress(start + len(chunk), len(qids))
    return mined


def mining_stats(mined: dict[str, list[str]]) -> dict:
    sizes = np.array([len(v) for v in mined.values()]) if mined else np.zeros(1)
    return {
        "queries": len(mined),
        "negatives": int(sizes.sum()),
        "mean_per_query": round(float(sizes.mean()), 2),
        "queries_without": int((sizes == 0).sum()),
    }


def mine_file(
    cfg: Config,
    corpus: Corpus,
    checkpoint: Checkpoint,
    index,
    path: Path,
    force: bool = False,
    progress: Tally | None = None,
) -> tuple[str, bool]:
    """The mining stage: hard negatives for the training queries of `corpus`, mined with `checkpoint`
    over its `index` (`cfg.build` settings), saved to `path` with their provenance, unless `path`
    already holds them for this checkpoint file, corpus and settings. Returns (the key the mined file
    records, whether it was mined now)."""
    fingerprint = checkpoint.fingerprint
    d = cfg.data
    key = key_of(fingerprint, corpus.fingerprint(), cfg.build.mining(), d.val_fraction, d.tune_fraction)
    try:
        current = load_mined(path)[1].get("key")
    except (FileNotFoundError, ValueError):  # missing or unreadable: mined again
        current = None
    if current == key and not force:
        return key, False
    train_qids, val_qids = split_queries(corpus, d.val_fraction, d.tune_fraction)
    texts, pids = corpus.texts(), list(corpus.passages.pid)
    bm25 = BM25().fit(texts, pids) if cfg.build.bm25_negatives else None
    pool = set(negative_pool(corpus, val_qids + tune_queries(corpus, d.val_fraction, d.tune_fraction)))
    mined = mine_negatives(
        checkpoint.encoder, index, corpus, train_qids, pool, cfg.build, bm25=bm25, progress=progress
    )
    save_mined(
        path,
        mined,
        {
            "key": key,
            "checkpoint": str(checkpoint.path),
            "checkpoint_fingerprint": fingerprint,
            "corpus_fingerprint": corpus.fingerprint(),
            "source": corpus.source,
            "settings": vars(cfg.build),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **mining_stats(mined),
        },
    )
    return key, True


def mining_index(checkpoint: Checkpoint, corpus: Corpus) -> LazyIndex:
    """An exact index of every passage's vector under `checkpoint`, for mining (no Chroma needed),
    encoded only when mining first asks it something (an up-to-date mined file needs none)."""

    def make() -> ExactIndex:
        index = ExactIndex()
        index.add(list(corpus.passages.pid), checkpoint.encoder.encode_passages(corpus.texts()))
        return index

    return LazyIndex(make)


class LazyIndex:
    """An index made on first use."""

    def __init__(self, make):
        self.make, self.made = make, None

    def __getattr__(self, name):
        if self.made is None:
            self.made = self.make()
        return getattr(self.made, name)
