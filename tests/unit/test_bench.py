"""The benchmark's parts: the scaling run (`core.pipeline.scale`), the target checks and the reports
it writes."""

from __future__ import annotations

import json

import torch

from core.common.config import ModelConfig
from core.data.pseudo import sentences
from core.model.two_tower import TwoTower, save_checkpoint
from core.pipeline import bench_report, scale


def test_synthetic_passages_are_real_sentences_recombined_at_real_lengths():
    texts = [
        "Paris is in France. It is the capital.",
        "Coffee is brewed. Beans are roasted. It is hot.",
        "One.",
    ]
    made = scale.synthetic_passages(texts, 200, seed=1)
    assert (
        made == scale.synthetic_passages(texts, 200, seed=1) != scale.synthetic_passages(texts, 200, seed=2)
    )
    pool = {s for t in texts for s in sentences(t)}
    assert all(set(sentences(p)) <= pool for p in made)
    assert {len(sentences(p)) for p in made} == {1, 2, 3}, "as many sentences as a real passage"


def test_a_size_is_measured_stage_by_stage_and_each_path_against_exact_search(tmp_path, glove_vocab):
    torch.manual_seed(0)
    model = TwoTower.from_vocab(ModelConfig(hidden=8, out_dim=8), glove_vocab)
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"data": {"query_len": 32, "passage_len": 64}})
    queries = ["what is the capital of france", "how is coffee made", "symptoms of flu"] * 4
    row = scale.measure(400, {"tiny": str(tmp_path / "model.pt")}, queries)
    one = row["checkpoints"]["tiny"]
    assert (
        row["passages"] == 400 and row["peak_rss_mb"] > 0 and one["encode_per_s"] > 0 and one["disk_mb"] >= 0
    )
    assert set(one["latency"]) == {
        "exact",
        "chroma (dense part only)",
        "app (Chroma + inverted index, rescored)",
    }
    assert all(0 < v["p50_ms"] <= v["p95_ms"] for v in one["latency"].values())
    assert one["top10_identical"]["app (Chroma + inverted index, rescored)"] == 1.0, (
        "400 passages: all candidates"
    )
    report = {
        "created": "now",
        "machine": {"cpus": 2},
        "chroma": "embedded",
        "sizes": [row, {**row, "passages": 4000}],
    }
    text = "\n".join(scale.markdown(report))
    assert (
        "| 400 |" in text and "| 4,000 |" in text and any(f"| {s} (" in text for s in scale.STAGES.values())
    )
    svg = scale.plot_svg(report)
    assert (
        svg.startswith("<svg")
        and svg.count("<polyline") >= 3
        and all(s in svg for s in scale.STAGES.values())
    )


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


def test_sizes_measured_one_command_at_a_time_make_one_table():
    earlier = {"chroma": "embedded", "sizes": [{"passages": 10}, {"passages": 100, "old": 1}]}
    now = {"chroma": "embedded", "sizes": [{"passages": 1000}, {"passages": 100, "new": 1}]}
    both = scale.merged(earlier, now)["sizes"]
    assert [r["passages"] for r in both] == [10, 100, 1000] and both[1] == {"passages": 100, "new": 1}
    assert scale.merged({**earlier, "chroma": "server h:8000"}, now) == now, "never mixed with a server's"
    assert scale.merged(None, now) == now
