"""The Home page's results table and the note on what it was measured on, from artifacts/metrics.json
(plain data in, rows out, so it is tested without a page)."""

from __future__ import annotations

import json
from pathlib import Path

from core.metrics import FULL_METRICS
from core.rankers import METRIC_MODELS


def read_metrics(artifacts: Path) -> dict:
    """artifacts/metrics.json, or {} when it is missing or unreadable."""
    try:
        metrics = json.loads((Path(artifacts) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def metrics_note(metrics: dict) -> str:
    """What the metrics were measured on, as far as metrics.json says."""
    split, corpus = metrics.get("split") or {}, metrics.get("corpus") or {}
    parts = []
    if isinstance(split.get("val_queries"), int):
        share = (
            f" ({split['val_fraction']:.1%} of the queries, never trained on)"
            if isinstance(split.get("val_fraction"), float)
            else ""
        )
        parts.append(f"{split['val_queries']:,} validation queries{share}")
    if isinstance(corpus.get("passages"), int):
        parts.append(f"*full*: each ranking all {corpus['passages']:,} passages")
    return (
        "Measured on " + ", ".join(parts) + ". " if parts else ""
    ) + "*rerank*: each query with two or more candidate passages in the data ranks only those."


def metrics_rows(metrics: dict) -> list[dict]:
    """One row per model with full-retrieval and rerank metrics, each mode with the number of queries
    it was measured on (None where not measured): the baselines, the two checkpoints and their
    hybrids first, whether or not metrics.json has them yet, then any other model it holds."""
    models = metrics.get("models") if isinstance(metrics, dict) else None
    models = models if isinstance(models, dict) else {}
    rows = []
    for name in [*METRIC_MODELS, *(m for m in models if m not in METRIC_MODELS)]:
        m = models.get(name) or {}
        full, rerank = m.get("full") or {}, m.get("rerank") or {}
        rows.append(
            {
                "model": name,
                **{k: full.get(k) for k in FULL_METRICS},
                "queries": full.get("queries"),
                "rerank mrr@10": rerank.get("mrr@10"),
                "rerank queries": rerank.get("queries"),
                "measured": bool(full or rerank),
            }
        )
    return rows
