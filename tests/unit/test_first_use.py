"""The app's benchmark (`bench.first_use`): its checks and table beside the report `python -m core
bench` writes, a version measured into that report under its label, and its command's errors."""

from __future__ import annotations

import json

import pytest

from bench import first_use as app_bench
from core.pipeline import bench_report
from tests.unit.test_bench import report


def measured(fresh: float, new_run: float, cold: dict | None = None) -> dict:
    def path(s: float) -> dict:
        return {"seconds": s, "app_cpu_s": s * 1.5, "load_avg": 0.5}

    return {
        "fresh clone -> first result": path(fresh),
        "new run -> first result": path(new_run),
        "before (issue 20)": app_bench.BEFORE,
        **({app_bench.COLD: cold} if cold else {}),
    }


def test_first_use_is_checked_against_its_targets_beside_an_earlier_version():
    r = report(3500, 4.0, 20)
    r["first_use"] = {"now": measured(9.5, 16.0, {"seconds": 12.0}), "before": measured(66.0, 37.0)}
    r["checks"] = {**bench_report.checks(r), **app_bench.checks(r)}
    assert r["checks"]["fresh_clone_first_result_s"] == {"measured": 9.5, "target": "< 10", "met": True}
    assert not r["checks"]["new_run_first_result_s"]["met"], "only the current version ('now') is checked"
    r["ratios"] = bench_report.ratios(r)
    text = bench_report.markdown(
        r, {**bench_report.LABELS, **app_bench.LABELS}, app_bench.table(r["first_use"])
    )
    assert (
        "| fresh clone → first result | 9.5 s (CPU 14.25 s, load 0.5) | 66.0 s (CPU 99.0 s, load 0.5) "
        "| 66 s |" in text
    )
    assert "| cold start → first result | 12.0 s | — | — |" in text
    assert "| a new run's first Search result, s | 16.0 | < 15 | **no** |" in text
    assert text.index("First use (`python -m bench.first_use`") < text.index("| encoding |")


def test_a_failed_cold_start_is_shown_as_its_error():
    lines = app_bench.table({"now": measured(4.0, 1.0, {"error": "AssertionError: no results rendered"})})
    assert "| cold start → first result | failed: AssertionError: no results rendered | — |" in lines


def test_the_retrieval_report_alone_has_no_first_use():
    r = report(3500, 4.0, 20)
    r["ratios"], r["checks"] = bench_report.ratios(r), bench_report.checks(r)
    assert not app_bench.checks(r) and not app_bench.table({})
    assert "First use" not in bench_report.markdown(r) and "fresh_clone_first_result_s" not in r["checks"]


def test_a_version_is_measured_into_the_existing_report(tmp_path, monkeypatch):
    artifacts, doc = tmp_path / "artifacts", tmp_path / "benchmark.md"
    for name in ("random", "hard", "other"):
        (artifacts / name).mkdir(parents=True)
        (artifacts / name / "model.pt").write_bytes(b"")
    pairs, apps = [], []
    monkeypatch.setattr(
        app_bench, "first_use", lambda source, pair, app: pairs.append(pair) or measured(8, 12)
    )
    monkeypatch.setattr(
        app_bench, "cold_start", lambda source, folder, app: apps.append(app) or {"seconds": 3}
    )
    with pytest.raises(FileNotFoundError, match="python -m core bench"):  # no report to add to yet
        app_bench.refresh(artifacts, "source", doc=doc)
    r = report(3500, 4.0, 20)
    r["ratios"], r["checks"] = bench_report.ratios(r), bench_report.checks(r)
    bench_report.write_reports(r, artifacts, doc, bench_report.markdown(r))
    app_bench.refresh(artifacts, "source", label="before", app_root=tmp_path / "old", doc=doc)
    assert list(pairs[0]) == ["random", "hard"], "the committed pair only"
    assert apps == [tmp_path / "old"], "the cold start of the app measured"
    saved = json.loads((artifacts / "bench.json").read_text())
    assert list(saved["first_use"]) == ["before"] and "fresh_clone_first_result_s" not in saved["checks"]
    app_bench.refresh(artifacts, "source", doc=doc)
    saved = json.loads((artifacts / "bench.json").read_text())
    assert (
        list(saved["first_use"]) == ["before", "now"] and saved["checks"]["fresh_clone_first_result_s"]["met"]
    )
    assert saved["first_use"]["now"][app_bench.COLD] == {"seconds": 3}
    assert saved["targets"]["new_run_first_result_s"] == 15 and saved["checks"]["query_p50_ms"]["met"]
    text = doc.read_text()
    assert (
        "| fresh clone → first result | 8 s" in text and "| a new run's first Search result, s | 12 |" in text
    )


def test_the_command_without_a_report_is_one_error_line(tmp_path, capsys):
    assert app_bench.main(["--artifacts", str(tmp_path), "--report", str(tmp_path / "benchmark.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "python -m core bench" in err and len(err.splitlines()) == 1
