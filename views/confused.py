"""Validation queries a checkpoint gets wrong: the judged passage is not its first result. Worst
first; each opens with the wrong passage that won beside the judged one."""
import pandas as pd
import streamlit as st

import app_state as ui
from core.confused import FILTERS, SORTS, counts, select
from core.engine import ResultHit

ui.style()
st.title("🤔 Confused queries")
engines = ui.engines()
if len(engines) < 2:
    st.info("This page compares two checkpoints: run `python -m core build` to train both.")
    st.stop()
names = list(engines)
first, second = names[:2]
items = ui.confusions(engines[first], engines[second])
c = counts(items)
labels = {"confused": "confused (this checkpoint)", "fixed": f"fixed by {second}", "broken": f"broken by {second}",
          "both": "confused in both"}
cols = st.columns(6)
cols[0].metric("Validation queries", f"{c['queries']:,}")
cols[1].metric(f"Confused · {first}", f"{c['first']:,}", help="Judged passage not at rank 1 (ties count against it)")
cols[2].metric(f"Confused · {second}", f"{c['second']:,}", help="Judged passage not at rank 1 (ties count against it)")
cols[3].metric(labels["fixed"], f"{c['fixed']:,}", help=f"Confused in {first}, rank 1 in {second}")
cols[4].metric(labels["broken"], f"{c['broken']:,}", help=f"Rank 1 in {first}, confused in {second}")
cols[5].metric(labels["both"], f"{c['both']:,}")

ui.url_state({"model": second, "filter": "confused", "sort": "judged rank", "qid": ""},
             {"model": [first, second], "filter": FILTERS, "sort": SORTS})
pick, show, order = st.columns([2, 4, 2], vertical_alignment="bottom")
name = pick.selectbox("Checkpoint", [first, second], key="model")
which = show.radio("Show", FILTERS, key="filter", format_func=labels.get, horizontal=True)
sort = order.selectbox("Worst first by", SORTS, key="sort")
side, other = ("first", second) if name == first else ("second", first)
rows = select(items, side, which, sort)
st.caption(f"{len(rows):,} queries. *judged rank*: where {name} ranks the judged passage among all "
           f"{len(engines[name].catalog):,}; *gap*: the top wrong passage's cosine minus the judged one's "
           "(> 0: the wrong one won). Click a row to open it.")
table = pd.DataFrame([{"query": o.query, "type": o.query_type or "—", "judged rank": getattr(o, side).rank,
                       f"rank in {other}": getattr(o, "second" if side == "first" else "first").rank,
                       "judged cos": getattr(o, side).judged_score, "top wrong cos": getattr(o, side).wrong_score,
                       "gap": getattr(o, side).gap} for o in rows])
event = st.dataframe(table, key="table", on_select="rerun", selection_mode="single-row", hide_index=True, height=320,
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("judged cos", "top wrong cos", "gap")})
picked = event.selection.rows if event else []
by_id = {o.query_id: o for o in rows}
if picked:
    st.session_state.qid = rows[picked[0]].query_id
chosen = by_id.get(st.session_state.qid) or (rows[0] if rows else None)
st.session_state.qid = chosen.query_id if chosen else ""
ui.save_url(["model", "filter", "sort", "qid"])
if chosen is None:
    st.info("No validation query in this group.")
    st.stop()

s = getattr(chosen, side)
cat = engines[name].catalog
st.subheader(f"“{chosen.query}”")
st.caption(f"Query {chosen.query_id} · {name} ranks the judged passage #{s.rank:,} "
           f"(cos {s.judged_score:.3f}); the best passage not judged scores {s.wrong_score:.3f} "
           f"(gap {s.gap:+.3f}). Highlighted: the query's words each passage shares.")
links = st.columns(3)
links[0].page_link("views/search.py", label="Open in Search", icon="🔎", query_params={"q": chosen.query, "model": name})
links[1].page_link("views/compare.py", label="Open in Compare", icon="⚖️",
                   query_params={"q": chosen.query, "a": first, "b": second})
links[2].page_link("views/embeddings.py", label="Open in Embeddings", icon="🗺️",
                   query_params={"q": chosen.query})
wrong, right = st.columns(2, gap="medium")
with wrong:
    st.markdown(f"**Top wrong passage** (rank #{1 if s.rank > 1 else 2})")
    ui.card(ResultHit(1 if s.rank > 1 else 2, cat.pids[s.wrong_row], s.wrong_score, cat.display_text(s.wrong_row), False),
            chosen.query)
with right:
    st.markdown(f"**Judged passage** (rank #{s.rank:,})")
    ui.card(ResultHit(s.rank, cat.pids[s.judged_row], s.judged_score, cat.display_text(s.judged_row), True), chosen.query)
