"""The class benchmark's bookkeeping (bench/classroom.py): percentiles of the waits, and its section of
docs/benchmark.md replaced in place, the sections around it kept."""

from __future__ import annotations

from bench.classroom import SECTION, _stats
from core.common.artifacts import write_section


def test_stats_are_the_median_the_95th_percentile_and_the_worst():
    stats = _stats([float(s) for s in range(1, 21)])
    assert stats == {"n": 20, "p50_s": 10.5, "p95_s": 19.0, "max_s": 20.0}


def test_the_section_is_replaced_and_the_others_kept(tmp_path):
    doc = tmp_path / "benchmark.md"
    doc.write_text(f"# Benchmark\n\nintro\n\n## {SECTION}\n\nold table\n\n## Later\n\nkept\n")
    write_section(doc, SECTION, ["new table"])
    text = doc.read_text()
    assert "new table" in text and "old table" not in text
    assert text.index("intro") < text.index(SECTION) < text.index("## Later") and "kept" in text
    write_section(doc, SECTION, ["newer"])
    assert doc.read_text().count(SECTION) == 1
    write_section(doc, "Appended", ["### a table", "", "rows"])
    write_section(doc, SECTION, ["newest"])
    text = doc.read_text()
    assert text.endswith("## Appended\n\n### a table\n\nrows\n") and "newest" in text and "newer" not in text


def test_the_app_skips_streamlits_full_collection_after_every_run():
    """A full gc.collect(2) after every page run was most of the server's CPU per search, over the
    corpus and models the app holds; the class's app is served with it off."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"
