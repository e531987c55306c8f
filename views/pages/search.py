"""Search one checkpoint: where it ranks the judged passage first, cards with highlighted words and what
each score adds up from, the tokens the model saw, a notice when the corpus likely holds no answer,
latency last. The example queries (both checkpoints' ranks) are filled in after the results, so a first
search waits only for the checkpoint it uses."""

import streamlit as st

from core.analysis import results
from core.retrieval.catalog import no_answer
from core.retrieval.queries import QueryError
from core.retrieval.vectors import SearchIndexError
from views.parts import components, corpus_picker, state, url
from views.parts.judgements import judged

components.style()
st.title("🔎 Search")
rankers = state.rankers()
names = list(rankers)
default = state.search_default(names)
components.link_notices(
    url.url_state({"q": "", "k": 10, "model": default}, {"k": range(1, 51), "model": names})
)

box, pick, depth = st.columns([6, 2, 2], vertical_alignment="bottom")
query = box.text_input("Query", key="q", placeholder="Ask a question, e.g. what is dysgraphia?")
name = pick.selectbox("Model", names, key="model", help="A checkpoint, BM25, or a checkpoint fused with BM25")
k = depth.slider("Results (k)", 1, 50, key="k")
url.save_url(["q", "k", "model"])

examples = st.container()  # filled last: the examples need both checkpoints, a search only its own


def show_examples() -> None:
    """Validation queries the first two checkpoints disagree on (opened here, progress bars below)."""
    if len(state.checkpoints()) >= 2 and judged(state.catalog()):
        first, second = (rankers[n] for n in names[:2])
        found = state.examples(first, second)
        with examples.expander(
            f"Example queries: validation queries where **{url.literal(first.name)}** and "
            f"**{url.literal(second.name)}** disagree",
            expanded=not query,
        ):
            components.example_buttons(found)


if not query:
    st.info("Type a question above, or click one of the examples.", icon="💡")
    show_examples()
    st.stop()
ranker = rankers[name]
try:
    result = results.search(ranker, query, k)
    why = results.explain_result(ranker, result)
except (QueryError, SearchIndexError) as e:  # a query to change, or an index that could not be repaired
    st.warning(str(e), icon="✋")
    components.suggestion(corpus_picker.speller().suggest(query))
    st.stop()
if result.notice:
    st.info(url.literal(result.notice), icon="🛠️")
cat = ranker.catalog
found = no_answer(cat, result.query, [h.pid for h in result.hits])
components.no_answer(found, result.query_id is not None)
if (found and found.unknown) or not all(t.known for t in result.tokens):  # a word to mend, perhaps
    components.suggestion(corpus_picker.speller().suggest(query))
seen = components.seen(result.tokens)  # the words highlighted: those the model saw
main, side = st.columns([3, 1], gap="large")
with side:
    if result.query_id:
        st.metric(
            f"Judged passage · {url.literal(name)}",
            components.judged_rank(result.judged),
            help=f"Where {url.literal(name)} ranks the passage judged relevant, among all {len(cat):,}",
        )
        st.markdown(components.judged_summary(result.judged, len(cat), k, name))
    elif judged(cat):
        st.caption("Not one of the dataset's queries, so no passage is judged for it; the examples are.")
    else:
        st.caption("This corpus has no judged queries, so no passage is marked as the answer.")
    st.markdown("**Tokens the model saw** (struck out: unknown)")
    components.tokens(result.tokens, result.dropped_tokens)
    components.secondary(components.answered_by(result, ranker))
with main:
    missed = sum(hit.missed for hit in result.hits)
    if missed:
        st.caption(
            f"Chroma's approximate (HNSW) index missed {missed} of the passages that exact search over "
            f"every passage ranks in the top {k}; they are shown where exact search puts them, marked "
            "*missed by the index*."
        )
    for hit in result.hits:
        components.card(hit, seen, result.unit, why=why[hit.pid])
    if result.judged and result.judged.rank > k:
        st.markdown(f"**The judged passage, ranked #{result.judged.rank:,}:**")
        components.card(result.judged, seen, result.unit, why=why[result.judged.pid])
show_examples()
