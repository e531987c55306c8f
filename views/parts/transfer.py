"""The transfer lesson on Home: for each corpus with judgements that the build measured
(metrics.json's "corpora" section), its table of rankers and one sentence, computed from the numbers,
on how the MS MARCO-trained towers fare against BM25 there. Plain data in, rows and text out, so it is
tested without a page; `show` draws it, and draws nothing without the section."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from views.parts.url import shown

TOWERS = ("random", "hard")
COLUMNS = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@100": "R@100", "queries": "queries"}
WITHOUT = "nDCG@10 without new words"  # the checkpoints' own vocabulary only (core.model.new_words)


def measured(metrics: dict) -> dict[str, dict]:
    """metrics.json's corpora that have rankers measured, by name ({} without the section)."""
    corpora = metrics.get("corpora") if isinstance(metrics, dict) else None
    if not isinstance(corpora, dict):
        return {}
    return {
        name: c for name, c in corpora.items() if isinstance(c, dict) and isinstance(c.get("models"), dict)
    }


def _number(row: dict | None, key: str):
    value = row.get(key) if isinstance(row, dict) else None
    return value if isinstance(value, (int, float)) else None


def table(section: dict) -> pd.DataFrame:
    """One row per ranker: nDCG@10, MRR@10, R@100, queries; and nDCG@10 without the corpus's new
    words where that was measured."""
    without = section.get("without_new_words") if isinstance(section.get("without_new_words"), dict) else {}
    rows = []
    for ranker, row in section["models"].items():
        values = {label: _number(row, key) for key, label in COLUMNS.items()}
        if without:
            values[WITHOUT] = _number(without.get(ranker), "ndcg@10")
        rows.append({"ranker": ranker, **values})
    return pd.DataFrame(rows).set_index("ranker")


def sentence(name: str, section: dict) -> str:
    """What the corpus's numbers show: the best MS MARCO-trained tower against BM25 by nDCG@10, and
    what hard negatives change there; empty when either side was not measured."""
    models = section["models"]
    bm25 = _number(models.get("bm25"), "ndcg@10")
    towers = {t: _number(models.get(t), "ndcg@10") for t in TOWERS}
    towers = {t: v for t, v in towers.items() if v is not None}
    if bm25 is None or not towers:
        return ""
    best = max(towers, key=towers.get)
    gap = towers[best] - bm25
    verdict = "ties with" if abs(gap) < 5e-4 else ("trails" if gap < 0 else "beats")
    by = "" if verdict == "ties with" else f" by {abs(gap):.3f}"
    text = (
        f"On {shown(name)}, the better MS MARCO-trained tower, **{best}** (nDCG@10 {towers[best]:.3f}), "
        f"**{verdict} BM25** ({bm25:.3f}){by}"
    )
    if len(towers) == len(TOWERS):
        change = towers["hard"] - towers["random"]
        text += f"; hard negatives change the tower's nDCG@10 by {change:+.3f} here"
    return text + "."


def show(metrics: dict) -> None:
    """The section on Home, one table per measured corpus; nothing when none was measured."""
    corpora = measured(metrics)
    if not corpora:
        return
    st.subheader("Off MS MARCO: the same models on other corpora")
    st.caption(
        "The towers were trained on MS MARCO only; BM25 needs no training. Each table ranks every passage "
        "of the corpus for each judged query (nDCG@10 with graded judgements, the BEIR convention)."
    )
    for name, section in corpora.items():
        sizes = [f"{section[k]:,} {k}" for k in ("passages", "queries") if isinstance(section.get(k), int)]
        st.markdown(f"**{shown(name)}** · " + " · ".join(sizes) if sizes else f"**{shown(name)}**")
        said = sentence(name, section)
        if said:
            st.markdown(said)
        frame = table(section)
        st.dataframe(
            frame,
            placeholder="",  # a missing value is a blank cell, not "None"
            column_config={
                c: st.column_config.NumberColumn(format="%.3f") for c in frame.columns if c != "queries"
            },
        )
