"""Hard-negative mining with a trained checkpoint: its own stage between two training rounds.

For each training query, retrieve the top `depth` passages, drop the query's positives and
near-duplicates of them (same normalised text, or cosine above `dup_threshold`), drop passages
outside the negative pool (validation queries' positives), skip the first `skip` survivors
(likely unjudged positives) and keep the next `keep`. Optionally add BM25's top passages too.
"""
from __future__ import annotations

import re

import numpy as np
from tqdm.auto import tqdm

from core.config import BuildConfig
from core.data import Corpus
from core.text import normalize


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", normalize(text).lower()).strip()


def mine_negatives(searcher, index, corpus: Corpus, qids: list[str], pool: set[str], cfg: BuildConfig,
                   bm25=None, batch: int = 256, progress: bool = True) -> dict[str, list[str]]:
    """{query_id: [negative pid, ...]} best-ranked first. `searcher.batch_search(texts, k)` gives
    the dense candidates, `index.get_vectors(pids)` the vectors for the near-duplicate check,
    `bm25` (optional) another searcher whose top passages are appended."""
    query_text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    passage_norm = {pid: _norm(t) for pid, t in zip(corpus.passages.pid, corpus.passages.text)}
    mined = {}
    for start in tqdm(range(0, len(qids), batch), desc="mine", unit="batch", disable=not progress):
        chunk = qids[start : start + batch]
        texts = [query_text[q] for q in chunk]
        dense = searcher.batch_search(texts, cfg.mine_depth)
        lexical = bm25.batch_search(texts, cfg.bm25_negatives) if bm25 is not None and cfg.bm25_negatives else None
        needed = sorted({h.docid for hits in dense for h in hits} | {p for q in chunk for p in corpus.positives[q]})
        vecs = dict(zip(needed, index.get_vectors(needed)))     # one lookup per chunk
        for i, q in enumerate(chunk):
            positives = sorted(corpus.positives[q])
            pos_texts = {passage_norm[p] for p in positives}
            cands = [h.docid for h in dense[i] if h.docid in pool and h.docid not in corpus.positives[q]
                     and passage_norm[h.docid] not in pos_texts]
            if cands:
                sims = np.stack([vecs[c] for c in cands]) @ np.stack([vecs[p] for p in positives]).T  # (C, P)
                cands = [c for c, s in zip(cands, sims.max(1)) if s < cfg.dup_threshold]
            negatives = cands[cfg.mine_skip : cfg.mine_skip + cfg.mine_keep]
            if lexical is not None:
                negatives += [h.docid for h in lexical[i] if h.docid in pool and h.docid not in corpus.positives[q]
                              and passage_norm[h.docid] not in pos_texts and h.docid not in negatives]
            mined[q] = negatives
    return mined


def mining_stats(mined: dict[str, list[str]]) -> dict:
    sizes = np.array([len(v) for v in mined.values()]) if mined else np.zeros(1)
    return {"queries": len(mined), "negatives": int(sizes.sum()), "mean_per_query": round(float(sizes.mean()), 2),
            "queries_without": int((sizes == 0).sum())}
