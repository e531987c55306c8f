"""The real MS MARCO files end to end: their counts, and HNSW against exact search with artifacts/random."""

from pathlib import Path

import numpy as np
import pytest

from core.data.corpora import load_corpus
from core.data.corpus import split_queries
from core.model.encoder import Encoder
from core.model.two_tower import file_fingerprint
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.vectors import ExactIndex, IndexTarget
from tests.conftest import DEV_PAIRS, TRAIN_SAMPLE, needs_shared

ROOT_ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@needs_shared
def test_real_files():
    dev = load_corpus(str(DEV_PAIRS))
    assert len(dev.queries) == 6380 and all(len(dev.positives[q]) == 1 for q in dev.candidates)
    sample = load_corpus(str(TRAIN_SAMPLE))
    assert len(sample.queries) == 200
    assert sum(bool(p) for p in sample.positives.values()) == 189
    folder = load_corpus(str(DEV_PAIRS.parent))  # the whole shared folder, train_extra.jsonl included
    assert (len(folder.queries), len(folder.passages)) == (19496, 22194)


@needs_shared
@pytest.mark.skipif(
    not (ROOT_ARTIFACTS / "random" / "model.pt").is_file(),
    reason="committed checkpoint artifacts/random/model.pt is missing",
)
def test_hnsw_agrees_with_exact_on_real_data(tmp_path):
    corpus = load_corpus(str(DEV_PAIRS.parent))
    _, val = split_queries(corpus, 0.125)
    ckpt = ROOT_ARTIFACTS / "random" / "model.pt"
    enc = Encoder.from_checkpoint(ckpt)
    pids, texts = list(corpus.passages.pid), list(corpus.passages.text)
    idx = ensure_index(
        chroma_client(tmp_path / "chroma"),
        enc,
        IndexTarget("random", file_fingerprint(ckpt), None, pids, texts, corpus.fingerprint()),
    ).index
    exact = ExactIndex()
    exact.add(pids, enc.encode_passages(texts))
    qtext = dict(zip(corpus.queries.query_id, corpus.queries.text))
    qv = enc.encode_queries([qtext[q] for q in val])
    ann, truth = idx.query(qv, 10), exact.query(qv, 10)
    agreement = np.mean([len({h.docid for h in a} & {h.docid for h in t}) / 10 for a, t in zip(ann, truth)])
    assert agreement >= 0.99, agreement
