"""Validation queries a checkpoint gets wrong: the judged passage is not its first result. Worst
first; a click on a row opens it (kept by query id through sort, filter and checkpoint changes) with
the wrong passage that won beside the judged one, what each one's score adds up from, and the query's
tokens, unknown words struck out. Scores are in the picked ranker's unit (cos, bm25, fused)."""

import pandas as pd
import streamlit as st

from core.analysis.confused import FILTERS, SORTS, counts, select
from core.analysis.results import ResultHit
from views.parts import components, state, url
from views.parts.judgements import needs_judgements

components.style()
st.title("🤔 Confused queries")
if len(state.checkpoints()) < 2:
    st.info("This page compares two checkpoints: run `python -m core build` to train both.")
    st.stop()
if needs_judgements(state.catalog(), "Confused"):
    st.stop()
rankers = state.rankers()
names = list(rankers)
components.link_notices(url.url_state({"a": names[0], "b": names[1]}, {"a": names, "b": names}))
pair = st.columns(2)
first = pair[0].selectbox("Baseline", names, key="a", help="A checkpoint, BM25 or a hybrid")
second = pair[1].selectbox("Compared with", names, key="b")
components.same_checkpoint(first, second)
items = state.confusions(rankers[first], rankers[second])
by_id = {o.query_id: o for o in items}
c = counts(items)
labels = {
    "confused": "confused (this checkpoint)",
    "fixed": f"fixed by {url.literal(second)}",
    "broken": f"broken by {url.literal(second)}",
    "both": "confused in both",
}
defaults = {"model": first, "filter": "fixed", "sort": "judged rank", "qid": ""}  # what the second fixed
choices = {"model": [first, second], "filter": FILTERS, "sort": SORTS}
components.link_notices(url.url_state(defaults, choices))
if st.session_state.model not in (first, second):  # the pair changed under the picked side
    st.session_state.model = first
if st.session_state.qid and st.session_state.qid not in by_id:
    st.warning(
        f"This link opens query id {url.shown(st.session_state.qid)}, which is not a validation query here.",
        icon="🔗",
    )
    st.session_state.qid = ""

cols = st.columns(3)
cols[0].metric("Validation queries", f"{c['queries']:,}")
for col, model, confused in zip(cols[1:], (first, second), c["confused"]):
    col.metric(
        f"Confused · {url.literal(model)}",
        f"{confused:,}",
        help="Judged passage not at rank 1 (ties count against it)",
    )
pick, show, order = st.columns([2, 5, 2], vertical_alignment="bottom")
name = pick.selectbox("Checkpoint", [first, second], key="model")
side = 0 if name == first else 1  # which of the pair the table is about
sizes = {"confused": c["confused"][side], **{k: c[k] for k in ("fixed", "broken", "both")}}
which = show.radio(
    "Show", FILTERS, key="filter", horizontal=True, format_func=lambda f: f"{labels[f]} ({sizes[f]:,})"
)
sort = order.selectbox("Worst first by", SORTS, key="sort")
rows = select(items, side, which, sort)
ranker = rankers[name]
open_id = st.session_state.qid or (rows[0].query_id if rows else "")
position = next((i for i, o in enumerate(rows) if o.query_id == open_id), None)

gap = (
    ""
    if url.presenting()
    else (
        f"; *gap*: the top wrong passage's score ({ranker.unit}) minus the judged one's "
        "(> 0: the wrong one won)"
    )
)
st.caption(
    f"{len(rows):,} queries. *judged rank*: where {url.literal(name)} ranks the judged passage among all "
    f"{len(rankers[name].catalog):,}{gap}; *unknown words*: words the model saw as \\<unk\\>. "
    "**Click any cell of a row to open that query.**"
)
other = (first, second)[1 - side]
table = pd.DataFrame(
    {
        "query": [o.query for o in rows],
        "unknown words": [" ".join(t.text for t in ranker.tokens(o.query)[0] if not t.known) for o in rows],
        "judged rank": [o.sides[side].rank for o in rows],
        f"rank in {other}": [o.sides[1 - side].rank for o in rows],
        "gap": [o.sides[side].gap for o in rows],
        "type": [o.query_type for o in rows],
    }
)
table = table.drop(columns=["gap"] if url.presenting() else []).drop(
    columns=[] if any(table["type"]) else ["type"]  # a column of blanks tells nothing
)
opened = {"selection": {"cells": [(position, "query")]}} if position is not None else None
event = st.dataframe(
    table,
    key=f"table-{name}-{which}-{sort}-{url.url_moves()}",  # Back: the URL's query, not the last click
    on_select="rerun",
    selection_mode="single-cell",
    selection_default=opened,
    hide_index=True,
    placeholder="",  # a missing value is a blank cell, not "None"
    height=300,
    column_config={
        "gap": st.column_config.NumberColumn(f"gap ({ranker.unit})", format="%+.3f"),
        "query": st.column_config.TextColumn(width="large"),
    },
)
clicked = [c for c in (event.selection.cells if event else []) if c[0] != position]  # not the default cell
if clicked:
    open_id = rows[clicked[0][0]].query_id
    st.session_state.qid_chosen = True
st.session_state.qid = open_id  # kept by id through sort, filter and checkpoint changes
# the query opened by default stays out of the URL: a first visit writes nothing, so Back takes one press
chosen_qid = st.session_state.get("qid_chosen") or "qid" in st.query_params
url.save_url(["a", "b", "model", "filter", "sort"] + (["qid"] if chosen_qid else []))
chosen = by_id.get(open_id)
if chosen is None:
    st.info("No validation query in this group.")
    st.stop()

s = chosen.sides[side]
cat = rankers[name].catalog
st.subheader(f"“{url.literal(chosen.query)}”")
if position is None and not clicked:
    st.caption(f"Kept open from before: not in the group shown ({labels[which]}).")
tokens, dropped = ranker.tokens(chosen.query)
components.tokens(tokens, dropped)
scores = (
    ""
    if url.presenting()
    else f" ({ranker.unit} {s.judged_score:.3f}); the best passage not judged scores {s.wrong_score:.3f} "
    f"(gap {s.gap:+.3f})"
)
st.caption(
    f"Query {url.literal(chosen.query_id)} · {url.literal(name)} ranks the judged passage #{s.rank:,}"
    f"{scores}. Highlighted: the query's words the model saw that each passage shares; above each "
    f"passage, what its score adds up from in {url.literal(name)}, and below it in "
    f"{url.literal(other)}, for the same query and passage."
    + ("" if all(t.known for t in tokens) else " Struck out: words the model does not know (\\<unk\\>).")
)
links = st.columns(3)
links[0].page_link(
    "views/pages/search.py",
    label="Open in Search",
    icon="🔎",
    query_params={"q": chosen.query, "model": name},
)
links[1].page_link(
    "views/pages/compare.py",
    label="Open in Compare",
    icon="⚖️",
    query_params={"q": chosen.query, "a": first, "b": second},
)
links[2].page_link(
    "views/pages/embeddings.py", label="Open in Embeddings", icon="🗺️", query_params={"q": chosen.query}
)
why_wrong, why_judged = ranker.explain(chosen.query, [s.wrong_row, s.judged_row])
also_wrong, also_judged = rankers[other].explain(chosen.query, [s.wrong_row, s.judged_row])
seen = components.seen(tokens)
wrong, right = st.columns(2, gap="medium")
with wrong:
    st.markdown(f"**Top wrong passage** (rank #{1 if s.rank > 1 else 2})")
    components.card(
        ResultHit(
            1 if s.rank > 1 else 2, cat.pids[s.wrong_row], s.wrong_score, cat.display_text(s.wrong_row), False
        ),
        seen,
        ranker.unit,
        why=why_wrong,
    )
    components.other_view(other, also_wrong)
with right:
    st.markdown(f"**Judged passage** (rank #{s.rank:,})")
    components.card(
        ResultHit(s.rank, cat.pids[s.judged_row], s.judged_score, cat.display_text(s.judged_row), True),
        seen,
        ranker.unit,
        why=why_judged,
    )
    components.other_view(other, also_judged)
