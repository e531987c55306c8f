"""The benchmark's parts: the scaling run, the target checks and the reports it writes."""

from __future__ import annotations

import json

from core.pipeline import bench, bench_report


def test_scaling_measures_chroma_against_exact_search():
    [row] = bench.scaling([2000], queries=20)
    assert row["vectors"] == 2000 and row["chroma_build_s"] > 0 and row["chroma_add_per_s"] > 0
    assert 0 < row["chroma_p50_ms"] <= row["chroma_p95_ms"] and 0 < row["exact_p50_ms"] <= row["exact_p95_ms"]
    assert row["ann_agreement@10"] >= 0.9


def report(encode_per_s: float, p50: float, build_s: float) -> dict:
    lat = {"p50_ms": p50, "p95_ms": p50 * 2, "mean_ms": p50, "queries": 3}
    return {
        "created": "2026-11-23T00:00:00",
        "query_sample": 3,
        "corpus": {"passages": 10, "queries": 3},
        "machine": {"cpus": 2, "torch": "x", "load_avg_start": (0.1, 0, 0), "load_avg_end": (0.2, 0, 0)},
        "encoding": {
            "hard": {"items": 10, "seconds": 1, "per_s": encode_per_s},
            "all-MiniLM-L6-v2": {"skipped": "not installed"},
        },
        "index_build": {"hard": {"encode": build_s / 2, "add": build_s / 2, "total": build_s}},
        "chroma_add": {"hard": {"vectors": 10, "per_s": 5.0}},
        "latency": {
            "bm25 (bm25s)": lat,
            "hard: encode + Chroma top-10": lat,
            "hard: encode + exact top-10": lat,
        },
        "ann_agreement@10": {"hard": 1.0},
        "training_seconds": {"hard": 100},
        "scaling": [],
    }


def test_checks_compare_each_measurement_with_its_target():
    good, bad = report(3500, 4.0, 20), report(2999, 10.0, 60)
    for r in (good, bad):
        r["ratios"], r["checks"] = bench_report.ratios(r), bench_report.checks(r)
    assert all(c["met"] for c in good["checks"].values())
    assert not any(c["met"] for c in bad["checks"].values())
    assert good["ratios"]["hard: Chroma p50 / exact p50"] == 1.0


def test_reports_are_the_json_and_the_benchmark_page(tmp_path):
    r = report(3500, 4.0, 20)
    r["ratios"], r["checks"] = bench_report.ratios(r), bench_report.checks(r)
    bench_report.write_reports(
        r, tmp_path / "artifacts", tmp_path / "docs" / "benchmark.md", bench_report.markdown(r)
    )
    text = (tmp_path / "docs" / "benchmark.md").read_text()
    assert "| passage encoding, passages/s (tokenising included) | 3,500 | >= 3000 | yes |" in text
    assert "| all-MiniLM-L6-v2 | — | not installed |" in text
    assert json.loads((tmp_path / "artifacts" / "bench.json").read_text())["checks"]["query_p50_ms"]["met"]
    assert (tmp_path / "docs" / "benchmark.md").read_text() == "# Benchmark\n\n" + bench_report.markdown(r)


def test_the_report_keeps_the_sections_other_benchmarks_wrote(tmp_path):
    r = report(3500, 4.0, 20)
    r["ratios"], r["checks"] = bench_report.ratios(r), bench_report.checks(r)
    doc = tmp_path / "benchmark.md"
    doc.write_text("# Benchmark\n\nold figures\n\n## A class on one app\n\n| a | b |\n")
    bench_report.write_reports(r, tmp_path, doc, bench_report.markdown(r))
    text = doc.read_text()
    assert "old figures" not in text and "| passage encoding, passages/s" in text
    assert text.endswith("\n## A class on one app\n\n| a | b |\n")
