"""How each cost grows with the corpus (`python -m core bench --scale 10000,100000,1000000`).

Each size is a synthetic corpus of real-looking passages (`synthetic_passages`: the demo corpus's
sentences recombined, each passage as many sentences as a real one drawn at random), measured in a
child process of its own, so that its peak memory is its own: BM25 indexed, then for each checkpoint
its passages encoded in parts (`passages.encode_in_parts`), their dense parts added to Chroma (an
embedded folder, or the server `CHROMA_HOST` names), the lexical parts' inverted index made; then real
validation queries searched one at a time along each path: exact search over the whole vectors,
Chroma's dense parts alone, and the app's (`dense.rescored_top`: Chroma's candidates and the inverted
index's, scored exactly), each path's top 10 compared with exact search's.
"""

from __future__ import annotations

import gc
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from core.common.artifacts import (
    PREFERRED,
    CheckpointError,
    find_checkpoints,
    read_json,
    write_json,
    write_section,
    write_text,
)
from core.common.config import DataConfig
from core.data.corpora import DEFAULT, open_corpus
from core.data.corpus import split_queries
from core.data.pseudo import sentences
from core.model.encoder import Checkpoint
from core.model.passages import encode_in_parts
from core.pipeline.bench import latency, machine
from core.retrieval.bm25 import BM25
from core.retrieval.dense import CANDIDATES, rescored_top
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.ranker import exact_top
from core.retrieval.vectors import IndexTarget

QUERIES = 200  # validation queries searched one at a time at each size
HEADING = "How each cost grows with the corpus"  # its section of docs/benchmark.md


def synthetic_passages(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """`n` passages made of the sentences of `texts`: each as many sentences as a passage of `texts`
    drawn at random, each sentence drawn at random from all of theirs (so lengths and vocabulary are
    the real ones, and no passage repeats a real one but by chance)."""
    cut = [sentences(t) or [t] for t in texts]
    pool, counts = [s for c in cut for s in c], np.array([len(c) for c in cut])
    rng = np.random.default_rng(seed)
    sizes = counts[rng.integers(0, len(counts), n)]
    picks = rng.integers(0, len(pool), int(sizes.sum()))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [" ".join(pool[j] for j in picks[bounds[i] : bounds[i + 1]]) for i in range(n)]


def measure(n: int, checkpoints: dict[str, str], queries: list[str], seed: int = 0) -> dict:
    """One size, every stage (run in a child process: `run`). Seconds of each stage, rates, the
    child's peak memory, the disk the vectors and the Chroma folder take, latency per query path, and
    the share of queries whose top 10 on each path is exact search's."""
    t0 = time.perf_counter()
    texts = synthetic_passages(open_corpus(DEFAULT).texts(), n, seed)
    pids, corpus_key = [f"s{i}" for i in range(n)], f"synthetic-{n}-{seed}"
    row: dict = {"passages": n, "make_corpus_s": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    bm25 = BM25().fit(texts, pids)
    row["bm25_index_s"] = round(time.perf_counter() - t0, 1)
    del bm25
    row["checkpoints"] = {}
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for name, path in checkpoints.items():
            row["checkpoints"][name] = _checkpoint(
                Checkpoint(name, path), texts, pids, corpus_key, queries, Path(tmp)
            )
            gc.collect()
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def _checkpoint(checkpoint: Checkpoint, texts, pids, corpus_key, queries, tmp: Path) -> dict:
    encoder, n = checkpoint.encoder, len(texts)
    key = {"checkpoint": checkpoint.fingerprint, "corpus": corpus_key, "rows": str(n)}
    t0 = time.perf_counter()
    vectors = encode_in_parts(encoder, texts, tmp / f"{checkpoint.name}.parts", key, progress=True)
    encode_s = time.perf_counter() - t0
    client = chroma_client(tmp / f"chroma-{checkpoint.name}")
    target = IndexTarget(checkpoint.name, checkpoint.fingerprint, None, pids, texts, corpus_key)
    made = ensure_index(client, encoder, target, force=True, progress=True, vectors=vectors)
    try:
        return _searched(checkpoint, vectors, made, queries, encode_s, tmp)
    finally:
        client.delete_collection(made.index.collection.name)  # a server keeps it otherwise


def _searched(checkpoint: Checkpoint, vectors, made, queries: list[str], encode_s: float, tmp: Path) -> dict:
    encoder, index, n = checkpoint.encoder, made.index, len(vectors)
    t0 = time.perf_counter()
    vectors.inverted  # noqa: B018 (made on first use: timed here)
    sparse_s = time.perf_counter() - t0

    def exact(q: str) -> list:
        return exact_top(encoder.encode_queries([q]).scores(vectors)[0], 10)

    def app(q: str) -> list:
        vector = encoder.encode_queries([q])
        rows = [int(h.docid[1:]) for h in index.query(vector, CANDIDATES)[0]]
        return rescored_top(vector, vectors, rows, 10)

    encoded = encoder.encode_queries(queries)
    truth = [[r for r, _, _ in exact_top(s, 10)] for s in encoded.scores(vectors)]
    dense = [[int(h.docid[1:]) for h in hits] for hits in index.query(encoded, 10)]
    found = [[r for r, _ in app(q)] for q in queries]
    disk = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file() and checkpoint.name in str(f))
    return {
        "encode_s": round(encode_s, 1),
        "encode_per_s": round(n / encode_s),
        "chroma_add_s": made.seconds["add"],
        "chroma_add_per_s": made.added_per_s,
        "sparse_index_s": round(sparse_s, 2),
        "disk_mb": round(disk / 1e6),
        "latency": {
            "exact": latency(exact, queries),
            "chroma (dense part only)": latency(
                lambda q: index.query(encoder.encode_queries([q]), 10), queries
            ),
            "app (Chroma + inverted index, rescored)": latency(app, queries),
        },
        "top10_identical": {
            "chroma (dense part only)": round(float(np.mean([d == t for d, t in zip(dense, truth)])), 4),
            "app (Chroma + inverted index, rescored)": round(
                float(np.mean([f == t for f, t in zip(found, truth)])), 4
            ),
        },
    }


def run(sizes: list[int], checkpoints: dict[str, Path], log=print) -> dict:
    """Every size in turn, each in a fresh child process, into one report (`artifacts/scale.json`)."""
    corpus = open_corpus(DEFAULT)
    _, val = split_queries(corpus, DataConfig.val_fraction)
    text = dict(zip(corpus.queries.query_id, corpus.queries.text))
    queries = [text[q] for q in val[:QUERIES]]
    where = f"server {os.environ['CHROMA_HOST']}" if os.environ.get("CHROMA_HOST") else "embedded"
    rows = []
    for n in sizes:
        log(f"{n:,} passages ({where} Chroma)")
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as child:
            rows.append(
                child.submit(measure, n, {k: str(v) for k, v in checkpoints.items()}, queries).result()
            )
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(),
        "chroma": where,
        "sizes": rows,
    }


def measured(sizes: list[int], artifacts: Path, doc: Path) -> list[str]:
    """`bench --scale`: the compared checkpoints of `artifacts` measured at `sizes` into
    artifacts/scale.json (with the sizes measured before, `merged`), the section `HEADING` of `doc`
    and its plot beside it (scale.svg); returns the section's lines."""
    pair = {n: p for n, p in find_checkpoints(artifacts).items() if n in PREFERRED}
    if not pair:
        raise CheckpointError(f"no checkpoint in {artifacts} to measure: run `python -m core build`")
    report = merged(read_json(artifacts / "scale.json"), run(sizes, pair))
    write_json(artifacts / "scale.json", report)
    lines, plot = markdown(report), plot_svg(report)
    if plot:
        write_text(doc.parent / "scale.svg", plot)
        lines += ["", "![seconds per stage against passages, log-log](scale.svg)"]
    write_section(doc, HEADING, lines)
    return lines


def merged(earlier: dict | None, report: dict) -> dict:
    """`report` with the sizes an `earlier` report measured and it did not, when both used Chroma the
    same way (embedded, or the same server): sizes may be measured one command at a time."""
    if not earlier or earlier.get("chroma") != report["chroma"]:
        return report
    new = {r["passages"] for r in report["sizes"]}
    kept = [r for r in earlier.get("sizes", []) if r.get("passages") not in new]
    return {**report, "sizes": sorted(kept + report["sizes"], key=lambda r: r["passages"])}


STAGES = {  # what each stage's seconds are called in a size's row, and in the report
    "make_corpus_s": "making the corpus",
    "bm25_index_s": "BM25 index",
    "encode_s": "encoding",
    "chroma_add_s": "Chroma adds",
    "sparse_index_s": "inverted index",
}


def stage_seconds(row: dict) -> dict[str, float]:
    """Each stage's seconds at one size, both checkpoints' added up."""
    out = {STAGES[k]: row[k] for k in ("make_corpus_s", "bm25_index_s")}
    for k in ("encode_s", "chroma_add_s", "sparse_index_s"):
        out[STAGES[k]] = round(sum(c[k] for c in row["checkpoints"].values()), 2)
    return out


def markdown(report: dict) -> list[str]:
    """The scaling section of docs/benchmark.md: a table per size, then latency per path."""
    lines = [
        f"Measured {report['created']} on {report['machine'].get('cpus')} CPUs, Chroma {report['chroma']}; "
        "`python -m core bench --scale " + ",".join(str(r["passages"]) for r in report["sizes"]) + "` "
        "(artifacts/scale.json). Each size is a synthetic corpus of the demo corpus's sentences "
        "recombined at its passages' lengths, measured in a process of its own; both checkpoints are "
        f"indexed in turn, and {QUERIES} validation queries are searched one at a time.",
        "",
        "| passages | index both (s) | dominant stage | encode /s | Chroma adds /s | BM25 (s) | "
        "inverted index (s) | peak memory (MB) | disk (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["sizes"]:
        stages, ckpts = stage_seconds(row), list(row["checkpoints"].values())
        total = sum(v for k, v in stages.items() if k != STAGES["make_corpus_s"])
        top = max((k for k in stages if k != STAGES["make_corpus_s"]), key=stages.get)
        lines.append(
            f"| {row['passages']:,} | {total:,.0f} | {top} ({stages[top] / total:.0%}) | "
            f"{' / '.join(format(c['encode_per_s'], ',') for c in ckpts)} | "
            f"{' / '.join(format(c['chroma_add_per_s'], ',.0f') for c in ckpts)} | {row['bm25_index_s']} | "
            f"{' / '.join(str(c['sparse_index_s']) for c in ckpts)} | {row['peak_rss_mb']:,} | "
            f"{sum(c['disk_mb'] for c in ckpts):,} |"
        )
    names = list(report["sizes"][0]["checkpoints"]) if report["sizes"] else []
    lines += [
        "",
        f"Per checkpoint ({' / '.join(names)}): query latency p50 / p95 in ms (the query encoded "
        "included), and the share of queries whose top 10 is exact search's over the whole vectors:",
        "",
        "| passages | path | "
        + " | ".join(f"{n} p50 / p95" for n in names)
        + " | "
        + " | ".join(f"{n} top 10 exact" for n in names)
        + " |",
        "|---|---|" + "---|" * (2 * len(names)),
    ]
    for row in report["sizes"]:
        ckpts = list(row["checkpoints"].values())
        for path in ckpts[0]["latency"]:
            times = [f"{c['latency'][path]['p50_ms']} / {c['latency'][path]['p95_ms']}" for c in ckpts]
            same = [
                f"{c['top10_identical'][path]:.1%}" if path in c["top10_identical"] else "(is exact)"
                for c in ckpts
            ]
            lines.append(f"| {row['passages']:,} | {path} | " + " | ".join(times + same) + " |")
    return lines


def plot_svg(report: dict, width: int = 640, height: int = 360) -> str:
    """A log-log SVG of each stage's seconds (both checkpoints) against the passages."""
    rows = report["sizes"]
    series = {name: [(r["passages"], stage_seconds(r)[name]) for r in rows] for name in STAGES.values()}
    points = [(x, y) for s in series.values() for x, y in s if x > 0 and y > 0]
    if len(rows) < 2 or not points:
        return ""
    lx, ly = np.log10([p[0] for p in points]), np.log10([p[1] for p in points])
    x0, x1, y0, y1 = lx.min(), lx.max(), np.floor(ly.min()), np.ceil(ly.max())
    pad, colours = 56, ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"]

    def at(x: float, y: float) -> str:
        px = pad + (np.log10(x) - x0) / max(x1 - x0, 1e-9) * (width - 2 * pad - 120)
        py = height - pad - (np.log10(y) - y0) / max(y1 - y0, 1e-9) * (height - 2 * pad)
        return f"{px:.1f},{py:.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle">seconds per stage (both checkpoints) against '
        "passages, log-log</text>",
    ]
    for e in range(int(y0), int(y1) + 1):
        _, py = at(10**x0, 10**e).split(",")
        out.append(f'<line x1="{pad}" x2="{width - pad - 120}" y1="{py}" y2="{py}" stroke="#ddd"/>')
        out.append(f'<text x="{pad - 6}" y="{py}" text-anchor="end" dy="4">{10.0**e:g}</text>')
    for r in rows:
        px, _ = at(r["passages"], 10**y0).split(",")
        out.append(f'<text x="{px}" y="{height - pad + 18}" text-anchor="middle">{r["passages"]:,}</text>')
    for i, (name, pts) in enumerate(series.items()):
        pts = [(x, y) for x, y in pts if y > 0]
        colour = colours[i % len(colours)]
        if pts:
            path = " ".join(at(x, y) for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - pad - 110}" y="{pad + 16 * i}" fill="{colour}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
