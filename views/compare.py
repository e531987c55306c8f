"""One query through two checkpoints side by side: rank movements, overlap, the judged passage."""
import streamlit as st

import app_state as ui
from core.engine import QueryError, compare
from core.index import SearchIndexError

ui.style()
st.title("⚖️ Compare checkpoints")
engines = ui.engines()
if len(engines) < 2:
    st.info("Comparing needs two checkpoints under the artifacts folder: run `python -m core build`.")
    st.stop()
names = list(engines)
ui.url_state({"q": "", "k": 10, "a": names[0], "b": names[1], "bm25": False},
             {"k": range(1, 51), "a": names, "b": names})

box, left_pick, right_pick, depth = st.columns([5, 2, 2, 2], vertical_alignment="bottom")
query = box.text_input("Query", key="q", placeholder="Ask a question, e.g. what is dysgraphia?")
left_name = left_pick.selectbox("Left", names, key="a")
right_name = right_pick.selectbox("Right", names, key="b")
k = depth.slider("Results (k)", 1, 50, key="k")
show_bm25 = st.checkbox("Add a BM25 column (lexical baseline)", key="bm25")
ui.save_url(["q", "k", "a", "b", "bm25"])

with st.expander(f"Example queries: validation queries, most of them ones where {names[0]} and {names[1]} disagree",
                 expanded=not query):
    ui.example_buttons(ui.examples(engines[names[0]], engines[names[1]]))

if not query:
    st.info("Type a question above, or click one of the examples.", icon="💡")
    st.stop()
try:
    result = compare(query, engines[left_name], engines[right_name], k)
    lexical = ui.lexical().search(query, k) if show_bm25 else None
except (QueryError, SearchIndexError) as e:    # a query to change, or an index that could not be repaired
    st.warning(str(e), icon="✋")
    st.stop()
for notice in {side.notice for side in (result.left, result.right) if side.notice}:
    st.info(notice, icon="🛠️")
total = len(engines[left_name].catalog)
stats = st.columns(3)
stats[0].metric(f"Overlap@{k}", f"{result.overlap:.0%}", help="Share of the top k that both models return")
for col, side in zip(stats[1:], (result.left, result.right)):
    col.metric(f"Judged passage · {side.model}", f"#{side.judged.rank:,}" if side.judged else "—",
               help="Rank over the whole corpus of the passage MS MARCO judged relevant"
               if side.judged else "Not a dataset query: no passage is judged for it")
st.caption("Badges give each passage's rank in the other model: ▲ ranked higher here, ▼ lower, "
           "*new*: outside the other model's top k. Hover a card for its whole text.")
columns = st.columns(3 if lexical else 2, gap="medium")
for col, side, moves, other in zip(columns, (result.left, result.right), (result.left_moves, result.right_moves),
                                   (result.right.model, result.left.model)):
    with col:
        st.subheader(side.model)
        st.caption(f"encode {side.encode_ms:.1f} ms · search {side.search_ms:.1f} ms")
        for move in moves:
            ui.card(move.hit, side.query, extra=ui.movement(move, other), clamp=True)
        if side.judged and side.judged.rank > k:
            st.caption(f"Judged passage, ranked #{side.judged.rank:,} of {total:,}:")
            ui.card(side.judged, side.query, clamp=True)
if lexical:
    with columns[2]:
        st.subheader("bm25")
        st.caption(f"search {lexical.search_ms:.1f} ms · word matches only")
        for hit in lexical.hits:
            ui.card(hit, lexical.query, score_label="bm25", clamp=True)
        if not lexical.hits:
            st.info("No passage contains any of the query's words.")
        if lexical.query_id:
            st.caption(ui.judged_summary(lexical.judged, total, k, "bm25"))
