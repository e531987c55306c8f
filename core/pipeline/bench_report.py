"""The benchmark's report: ratios between query paths, checks against the targets, and the markdown
of `docs/benchmark.md`, from the measurements `core.pipeline.bench` makes (plain dicts in, text out).
Measurements made elsewhere join it as more checks, with their labels and tables (`markdown`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.common.artifacts import kept_sections, write_json, write_text

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmark.md"
TARGETS = {
    "encode_passages_per_s": 3000,
    "query_p50_ms": 10,
    "index_build_s": 60,
}


def _dense(report: dict, suffix: str) -> dict:
    return {k.split(":")[0]: v for k, v in report["latency"].items() if k.endswith(suffix)}


def ratios(report: dict) -> dict:
    enc, out = report["encoding"], {}
    grus = [v["per_s"] for k, v in enc.items() if k in report["index_build"]]
    if "per_s" in enc.get("all-MiniLM-L6-v2", {}):
        out["GRU encoding / MiniLM encoding"] = round(min(grus) / enc["all-MiniLM-L6-v2"]["per_s"], 1)
    chroma, exact = _dense(report, "Chroma top-10"), _dense(report, "exact top-10")
    bm25 = report["latency"]["bm25 (bm25s)"]["p50_ms"]
    for name in chroma:
        out[f"{name}: Chroma p50 / exact p50"] = round(chroma[name]["p50_ms"] / exact[name]["p50_ms"], 2)
        out[f"{name}: BM25 p50 / Chroma p50"] = round(bm25 / chroma[name]["p50_ms"], 2)
    return out


def checks(report: dict) -> dict:
    """Each speed target against its measurement (the slowest checkpoint counts)."""
    names = list(report["index_build"])
    encode = min(report["encoding"][n]["per_s"] for n in names)
    p50 = max(v["p50_ms"] for v in _dense(report, "Chroma top-10").values())
    build = max(report["index_build"][n]["total"] for n in names)
    return {
        "encode_passages_per_s": {
            "measured": encode,
            "target": f">= {TARGETS['encode_passages_per_s']}",
            "met": encode >= TARGETS["encode_passages_per_s"],
        },
        "query_p50_ms": {
            "measured": p50,
            "target": f"< {TARGETS['query_p50_ms']}",
            "met": p50 < TARGETS["query_p50_ms"],
        },
        "index_build_s": {
            "measured": build,
            "target": f"< {TARGETS['index_build_s']}",
            "met": build < TARGETS["index_build_s"],
        },
    }


LABELS = {  # check -> its row in the targets table
    "encode_passages_per_s": "passage encoding, passages/s (tokenising included)",
    "query_p50_ms": "query latency p50, ms (tokenise + encode + Chroma top-10)",
    "index_build_s": "index build per checkpoint, s (encode + Chroma add)",
}


def markdown(report: dict, labels: dict[str, str] = LABELS, tables: Sequence[str] = ()) -> str:
    """The performance tables, as docs/benchmark.md shows them: the targets (each check in its row of
    `labels`), `tables` (the lines of measurements made elsewhere), encoding, query paths, the other
    measurements and ratios."""
    lines = [
        *_targets_table(report, labels),
        *tables,
        *_encoding_table(report["encoding"]),
        "",
        "| query path | p50 ms | p95 ms |",
        "|---|---|---|",
        *(f"| {name} | {v['p50_ms']} | {v['p95_ms']} |" for name, v in report["latency"].items()),
        *_other_table(report),
    ]
    return "\n".join(lines) + "\n"


def _targets_table(report: dict, labels: dict[str, str]) -> list[str]:
    """Where and how it was measured, then each target (`checks`) and whether it was met."""
    m, c = report["machine"], report["corpus"]
    lines = [
        f"Measured by `python -m core bench` on {report['created'][:10]}: {m['cpus']} CPU cores, "
        f"torch {m['torch']}, {c['passages']:,} passages, {report['query_sample']} validation queries one "
        "at a time; load average "
        f"{m['load_avg_start'][0]:.1f} at the start, {m['load_avg_end'][0]:.1f} at the end.",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    return lines + [
        f"| {labels[k]} | {v['measured']:,} | {v['target']} | {'yes' if v['met'] else '**no**'} |"
        for k, v in report["checks"].items()
    ]


def _encoding_table(encoding: dict) -> list[str]:
    """Passages per second of each encoder (the best of its runs), or why one was skipped."""
    lines = ["", "| encoding | per second | seconds |", "|---|---|---|"]
    for name, v in encoding.items():
        runs = f", best of {v['runs']}: {v['all_seconds']}" if v.get("runs", 1) > 1 else ""
        lines.append(
            f"| {name} | {v['per_s']:,} | {v['seconds']} (n={v['items']:,}{runs}) |"
            if "per_s" in v
            else f"| {name} | — | {v.get('skipped', v)} |"
        )
    return lines


def _other_table(report: dict) -> list[str]:
    """Index builds, ANN agreement, training times and the ratios."""
    lines = ["", "| other | value |", "|---|---|"]
    for name, v in report["index_build"].items():
        lines.append(
            f"| index build, {name} | {v['total']} s (encode {v['encode']} s, Chroma add {v['add']} s, "
            f"{report['chroma_add'][name]['per_s']:,} vectors/s) |"
        )
    lines += [
        f"| ANN agreement@10 with exact, {n} (all validation queries) | {v} |"
        for n, v in report["ann_agreement@10"].items()
    ]
    lines += [
        f"| training, {n} (from its log.json) | {s} s |" for n, s in report["training_seconds"].items() if s
    ]
    return lines + [f"| {k} | {v}× |" for k, v in report["ratios"].items()]


def report_path(artifacts: Path, given: str | None = None) -> Path:
    """Where the markdown report goes: `given`, else docs/benchmark.md (the README links to it) for the
    repository's own artifacts, else `benchmark.md` beside bench.json: a benchmark of other artifacts
    never overwrites the repository's report."""
    if given:
        return Path(given)
    own = Path(artifacts).resolve() == (ROOT / "artifacts").resolve()
    return ROOT / "docs" / "benchmark.md" if own else Path(artifacts) / "benchmark.md"


def write_reports(report: dict, artifacts: Path, doc: Path, text: str) -> None:
    """bench.json in `artifacts`, and the markdown report `text` (`markdown`) at `doc` (`report_path`),
    followed by the sections other benchmarks keep in `doc` (`## …`, e.g. bench.classroom's)."""
    write_json(artifacts / "bench.json", report)
    write_text(doc, "# Benchmark\n\n" + text + kept_sections(doc, text))
