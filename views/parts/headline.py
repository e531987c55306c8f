"""The Home page's results table and the note on what it was measured on, from artifacts/metrics.json,
and the line on the shipped pair's tower, from the towers' stored experiment results (plain data in,
rows and sentences out, so it is tested without a page)."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from core.common.artifacts import PREFERRED, CheckpointError, find_checkpoints, stale_models
from core.common.settings import CHOICES
from core.model.two_tower import file_fingerprint
from core.pipeline.arms import TOWER_ARMS
from core.retrieval.metrics import FULL_METRICS
from core.retrieval.registry import METRIC_MODELS

TOWERS = CHOICES["tower"]


def _number(value) -> float | None:
    """`value` when it is a finite number (not a bool), else None: a damaged metrics.json shows gaps."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _section(d, key: str) -> dict:
    """`d[key]` when both are objects, else {}."""
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, dict) else {}


def read_metrics(artifacts: Path) -> dict:
    """artifacts/metrics.json, or {} when it is missing or unreadable."""
    try:
        metrics = json.loads((Path(artifacts) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def design_sentence(metrics: dict) -> str:
    """How the two checkpoints were trained, from the design metrics.json records (empty without it)."""
    design = metrics.get("design") if isinstance(metrics, dict) else None
    if not (isinstance(design, dict) and all(isinstance(design.get(k), str) for k in ("warmup", "rounds"))):
        return ""
    return (
        f"Both continue one **warm-up** checkpoint ({design['warmup']}) for {design['rounds']}, on the "
        "same queries in batches of the same size: only the negatives differ, random ones for random, "
        "ones the warm-up model mined for hard."
    )


def hard_gain(random: dict, hard: dict) -> str:
    """' and by +0.016 on BM25-hard candidate lists' when both rows have that figure, else nothing."""
    a, b = random.get("BM25-hard mrr@10"), hard.get("BM25-hard mrr@10")
    return f" and by {b - a:+.3f} on BM25-hard candidate lists" if a is not None and b is not None else ""


def metrics_note(metrics: dict) -> str:
    """What the metrics were measured on, as far as metrics.json says."""
    split, corpus = _section(metrics, "split"), _section(metrics, "corpus")
    parts = []
    if isinstance(split.get("val_queries"), int):
        share = (
            f" ({split['val_fraction']:.1%} of the queries, never trained on, mined from or tuned on)"
            if isinstance(split.get("val_fraction"), float)
            else ""
        )
        parts.append(f"{split['val_queries']:,} validation queries{share}")
    if isinstance(corpus.get("passages"), int):
        parts.append(f"*full*: each ranking all {corpus['passages']:,} passages")
    return ("Measured on " + ", ".join(parts) + ". " if parts else "") + (
        "*BM25-hard*: each query ranks its judged passage among the 20 best other passages BM25 finds "
        "in the whole corpus."
    )


def fitted_on_note(metrics: dict) -> str:
    """Which queries the hybrids' fusion weights were fitted on, as far as metrics.json says."""
    entries = [f for f in _section(metrics, "hybrid_fitted_on").values() if isinstance(f, dict)]
    hash_range = entries[0].get("hash_range") if entries else None
    bounds = [_number(x) for x in hash_range[:2]] if isinstance(hash_range, list) else []
    if len(bounds) != 2 or None in bounds:
        return ""
    low, high = bounds
    return (
        f"Each hybrid's fusion weight was fitted on the {str(entries[0].get('split', '?'))[:40]} queries "
        f"(hash slice {low:.1%}–{high:.1%}), never on validation queries."
    )


def metrics_rows(metrics: dict) -> list[dict]:
    """One row per model with full-retrieval and BM25-hard rerank metrics, each mode with the number
    of queries it was measured on (None where not measured): the baselines, the warm-up, the two
    checkpoints and their hybrids first, whether or not metrics.json has them yet, then any other
    model it holds."""
    models = _section(metrics, "models")
    rows = []
    for name in [*METRIC_MODELS, *(m for m in models if m not in METRIC_MODELS)]:
        full, hard = _section(models.get(name), "full"), _section(models.get(name), "bm25_hard")
        row = {
            "model": name,
            **{k: _number(full.get(k)) for k in FULL_METRICS},
            "queries": _count(full.get("queries")),
            "BM25-hard mrr@10": _number(hard.get("mrr@10")),
            "BM25-hard queries": _count(hard.get("queries")),
        }
        rows.append({**row, "measured": row["mrr@10"] is not None and row["queries"] is not None})
    return rows


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def stale_metrics(metrics: dict, artifacts: Path) -> list[str]:
    """The models whose figures in `metrics` are not of the checkpoints in `artifacts` now
    (`core.common.artifacts.stale_models`); none without checkpoints."""
    try:
        paths = find_checkpoints(artifacts)
    except CheckpointError:
        return []
    measured = metrics.get("models") if isinstance(metrics, dict) else None
    shown = {n: p for n, p in paths.items() if isinstance(measured, dict) and n in measured}
    return stale_models(metrics, {n: _fingerprint(str(p), p.stat().st_mtime_ns) for n, p in shown.items()})


@lru_cache(maxsize=64)
def _fingerprint(path: str, mtime_ns: int) -> str:
    """A checkpoint file's fingerprint, read once per version of the file (its modification time)."""
    return file_fingerprint(path)


def shipped_model(artifacts: Path) -> dict:
    """The model settings the shipped pair was trained with (the hard checkpoint's config.json), or {}
    when it is missing or unreadable."""
    try:
        config = json.loads((Path(artifacts) / PREFERRED[-1] / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    model = config.get("model") if isinstance(config, dict) else None
    return model if isinstance(model, dict) else {}


def _full(result: dict) -> float | None:
    value = ((result.get("dense") or {}).get("full") or {}).get("mrr@10")
    return value if isinstance(value, (int, float)) else None


def _rate(result: dict) -> float | None:
    value = (result.get("encoding") or {}).get("passages_per_s")
    return value if isinstance(value, (int, float)) else None


def tower_sentence(model: dict, results: dict[str, dict]) -> str:
    """Which tower the shipped pair uses and why, from the towers' stored results at equal budget
    (`arms.TOWER_ARMS`, by name): its validation full MRR@10 beside the other towers'; empty unless the
    shipped tower and another were measured."""
    by_tower = {a.overrides["model.tower"]: results.get(a.name) or {} for a in TOWER_ARMS}
    scores = {t: _full(r) for t, r in by_tower.items() if _full(r) is not None}
    tower = model.get("tower")
    if tower not in scores or len(scores) < 2:
        return ""
    name = f"{'bidirectional ' if model.get('bidirectional') and tower != 'avg' else ''}{TOWERS[tower]}"
    others = ", ".join(f"{TOWERS[t]} {s:.3f}" for t, s in scores.items() if t != tower)
    best = max(scores, key=scores.get)
    rate, best_rate = _rate(by_tower[tower]), _rate(by_tower[best])
    if best == tower:
        second = max((t for t in scores if t != tower), key=scores.get)
        why = f"the best of the {len(scores)}, by {scores[tower] - scores[second]:+.3f} over {TOWERS[second]}"
        second_rate = _rate(by_tower[second])
        if rate and second_rate and second_rate > rate:
            why += f", which encodes {second_rate:,.0f} passages/s to its {rate:,.0f}"
    elif rate and best_rate and best_rate < rate:
        why = (
            f"{TOWERS[best]} scores {scores[best] - scores[tower]:+.3f} more but encodes "
            f"{best_rate:,.0f} passages/s to its {rate:,.0f}"
        )
    else:
        why = f"{TOWERS[best]} scores {scores[best] - scores[tower]:+.3f} more at this budget"
    return (
        f"The shipped pair's tower is a **{name}**: trained from scratch at one budget, only the tower "
        f"differing (docs/experiments.md, *Towers at equal budget*), it reaches a validation full MRR@10 of "
        f"{scores[tower]:.3f} against {others}; {why}."
    )
