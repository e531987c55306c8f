"""Search one checkpoint: cards with highlighted words, latency, the tokens the model saw."""
import streamlit as st

import app_state as ui
from core.engine import QueryError
from core.index import SearchIndexError

ui.style()
st.title("🔎 Search")
engines = ui.engines()
ui.url_state({"q": "", "k": 10, "model": "hard" if "hard" in engines else next(iter(engines))},
             {"k": range(1, 51), "model": list(engines)})

box, pick, depth = st.columns([6, 2, 2], vertical_alignment="bottom")
query = box.text_input("Query", key="q", placeholder="Ask a question, e.g. what is dysgraphia?")
name = pick.selectbox("Checkpoint", list(engines), key="model")
k = depth.slider("Results (k)", 1, 50, key="k")
ui.save_url(["q", "k", "model"])

if len(engines) >= 2:
    first, second = (engines[n] for n in list(engines)[:2])
    st.caption(f"Validation queries to try, most of them ones where **{first.name}** and **{second.name}** "
               "disagree; under each, where each model ranks the passage judged relevant:")
    ui.example_buttons(ui.examples(first, second))

if not query:
    st.info("Type a question above, or click one of the examples.", icon="💡")
    st.stop()
try:
    result = engines[name].search(query, k)
except (QueryError, SearchIndexError) as e:    # a query to change, or an index that could not be repaired
    st.warning(str(e), icon="✋")
    st.stop()
if result.notice:
    st.info(result.notice, icon="🛠️")
main, side = st.columns([3, 1], gap="large")
with side:
    st.metric("Encode query", f"{result.encode_ms:.1f} ms")
    st.metric("Search the index", f"{result.search_ms:.1f} ms")
    st.markdown("**Tokens the model saw** (struck out: unknown)")
    ui.tokens(result.tokens, result.dropped_tokens)
    if result.judged:
        st.markdown(f"**Dataset query** `{result.query_id}`\n\n"
                    + ui.judged_summary(result.judged, len(engines[name].catalog), k, name))
    else:
        st.caption("Not one of the dataset's queries, so no passage is judged for it; the examples are.")
with main:
    for hit in result.hits:
        ui.card(hit, result.query)
    if result.judged and result.judged.rank > k:
        st.markdown(f"**The judged passage, ranked #{result.judged.rank:,}:**")
        ui.card(result.judged, result.query)
