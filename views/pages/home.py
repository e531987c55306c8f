"""What the demo is, the headline metrics from artifacts/metrics.json framed honestly, curated example
queries and the way on to every page."""

import pandas as pd
import streamlit as st

from core.common.artifacts import artifacts_dir
from core.data.corpora import DEFAULT
from core.pipeline.arms import TOWER_ARMS, read_results
from views.parts import components, nav, state, transfer, url
from views.parts.headline import (
    design_sentence,
    fitted_on_note,
    hard_gain,
    metrics_note,
    metrics_rows,
    read_metrics,
    shipped_model,
    stale_metrics,
    tower_sentence,
)
from views.parts.judgements import judged, needs_judgements

components.style()
st.title("Two-tower neural search over MS MARCO")
metrics = read_metrics(artifacts_dir())
st.markdown(
    "A query tower and a passage tower (a bidirectional GRU over GloVe word vectors, beside learned "
    "weights of the exact words) map text to unit vectors; search is cosine similarity over every "
    "passage. Two checkpoints differ only in the negatives they were trained against: **random** "
    "(passages drawn at random, easy to tell apart) and **hard** (passages a model ranked high that are "
    "not the answer, so it learns finer distinctions). " + design_sentence(metrics)
)
if towers := tower_sentence(shipped_model(artifacts_dir()), read_results(artifacts_dir(), TOWER_ARMS)):
    st.markdown(towers)
nav.page_buttons()

stale = stale_metrics(metrics, artifacts_dir())
rows = [r for r in metrics_rows(metrics) if r["measured"] and r["model"] not in stale]
if stale:
    st.warning(
        f"The figures of {', '.join(stale)} in metrics.json are stale: they were measured on a checkpoint "
        "since replaced, so they are not shown. `python -m core build` measures them again.",
        icon="⏳",
    )
by_name = {r["model"]: r for r in rows}
cat = state.catalog()
sample = (metrics.get("corpus") or {}).get("passages")
if {"random", "hard"} <= set(by_name):
    random, hard = by_name["random"], by_name["hard"]
    best = max(rows, key=lambda r: r["mrr@10"] or 0)
    cols = st.columns(4)
    for col, r in zip(cols, (random, hard)):
        col.metric(
            f"MRR@10 · {url.literal(r['model'])}",
            f"{r['mrr@10']:.3f}",
            help=f"On {r['queries']:,} validation queries",
        )
    gain = hard["mrr@10"] - random["mrr@10"]
    relative = f"{gain / random['mrr@10']:+.1%}" if random["mrr@10"] else None  # no share of a zero
    cols[2].metric(
        "Hard vs random",
        f"{gain:+.3f}",
        delta=relative,
        help="The same start, epochs, learning rate and queries; only the negatives differ",
    )
    cols[3].metric(
        f"Best here · {url.literal(best['model'])}",
        f"{best['mrr@10']:.3f}",
        help=f"On {best['queries']:,} queries",
    )
    if best["model"] not in ("random", "hard"):
        bm25 = by_name.get("bm25")
        behind = bm25 and hard["mrr@10"] - bm25["mrr@10"]
        versus = (
            f" The hard model alone scores {abs(behind):.3f} MRR@10 {'below' if behind < 0 else 'above'} "
            f"BM25 ({bm25['mrr@10']:.3f}); {url.literal(best['model'])}, a checkpoint fused with BM25, "
            "beats both."
            if bm25 and best["model"].startswith("hybrid:")
            else ""
        )
        st.markdown(
            f"**The lesson is the gain, not the ranking.** Hard negatives lift the same small model by "
            f"{gain:+.3f} MRR@10 (on {hard['queries']:,} validation queries){hard_gain(random, hard)}, "
            f"against the same training with random negatives, yet **{url.literal(best['model'])}** "
            f"still leads with {best['mrr@10']:.3f}: MS MARCO questions share many words with their answers, "
            f"which keyword search (BM25) counts exactly"
            + (f", over a {sample:,}-passage sample." if isinstance(sample, int) else ".")
            + versus
        )

st.subheader("Every model, full retrieval over the corpus")
if not rows:
    st.info(
        f"No metrics yet: `{artifacts_dir() / 'metrics.json'}` is missing or unreadable. "
        "Run `python -m core build` to train both checkpoints and measure every model.",
        icon="📏",
    )
else:
    notes = [
        metrics_note(metrics),
        fitted_on_note(metrics),
        "*queries*: how many each figure was measured on.",
    ]
    st.caption(" ".join(n for n in notes if n))
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "measured"} for r in rows]).set_index("model")
    st.dataframe(
        table,
        placeholder="",  # a missing value is a blank cell, not "None"
        column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if "queries" not in c
        },
    )
    missing = [r["model"] for r in metrics_rows(metrics) if not r["measured"]]
    if missing:
        st.caption(
            f"Not measured yet: {url.literal(', '.join(missing))} — `python -m core build` fills them in."
        )
transfer.show(metrics)
st.page_link(nav.CORPORA_PAGE, label="Search a corpus of your own: add it", icon="📚")
if (
    cat.name != DEFAULT
    and not needs_judgements(cat, "Measuring the models")
    and cat.name not in transfer.measured(metrics)
):
    st.caption(
        f"{url.shown(cat.name)} has judgements: `python -m core eval --corpus {cat.name}` measures every "
        "model on it."
    )
st.caption(
    f"Picked corpus {url.shown(cat.name)}: {len(cat):,} passages searched · "
    f"{len(cat.corpus.queries):,} queries"
)

st.subheader("Try these in Compare")
checkpoints = state.checkpoints()
if not judged(cat):
    st.caption("This corpus has no judged queries to suggest: type your own in Search or Compare.")
elif len(checkpoints) >= 2:
    first, second = (checkpoints[n] for n in list(checkpoints)[:2])
    for col, ex in zip(st.columns(3) * 2, state.examples(first, second)):
        if col.button(url.literal(ex.query), width="stretch", wrap=True):
            st.switch_page(
                "views/pages/compare.py", query_params={"q": ex.query, "a": first.name, "b": second.name}
            )
        ranks = " → ".join(f"{m} #{r:,}" for m, r in ex.ranks.items())
        col.caption(url.literal(f"{components.verdict(ex)}: {ranks}"))
