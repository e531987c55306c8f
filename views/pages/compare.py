"""One query through two checkpoints: where each ranks the judged passage (the story, in big type),
how every passage moves between them (a slopegraph and badges), what each score adds up from, an
optional BM25 column."""

import streamlit as st

from core.analysis import results
from core.analysis.compare import compare
from core.retrieval.catalog import no_answer
from core.retrieval.queries import QueryError
from core.retrieval.vectors import SearchIndexError
from views.parts import charts, components, disagree, state, url
from views.parts.judgements import judged

components.style()
st.title("⚖️ Compare checkpoints")
rankers = state.rankers()
if len(state.checkpoints()) < 2:
    st.info("Comparing needs two checkpoints under the artifacts folder: run `python -m core build`.")
    st.stop()
names = list(rankers)
components.link_notices(
    url.url_state(
        {"q": "", "k": 10, "a": names[0], "b": names[1], "bm25": False},
        {"k": range(1, 51), "a": names, "b": names},
    )
)

box, left_pick, right_pick, depth = st.columns([5, 2, 2, 2], vertical_alignment="bottom")
query = box.text_input("Query", key="q", placeholder="Ask a question, e.g. what is dysgraphia?")
left_name = left_pick.selectbox("Left", names, key="a")
right_name = right_pick.selectbox("Right", names, key="b")
k = depth.slider("Results (k)", 1, 50, key="k")
show_bm25 = st.checkbox("Add a BM25 column (lexical baseline)", key="bm25")
url.save_url(["q", "k", "a", "b", "bm25"])
components.same_checkpoint(left_name, right_name)

if judged(state.catalog()):
    with st.expander(
        f"Example queries: validation queries where {url.literal(names[0])} and {url.literal(names[1])} "
        "disagree",
        expanded=not query,
    ):
        components.example_buttons(state.examples(rankers[names[0]], rankers[names[1]]))

if not query:
    st.info("Type a question above, or click one of the examples.", icon="💡")
    st.stop()
try:
    result = compare(query, rankers[left_name], rankers[right_name], k)
    lexical = results.search(state.lexical(), query, k) if show_bm25 else None
    why = {
        side.model: results.explain_result(rankers[side.model], side) for side in (result.left, result.right)
    }
    if lexical:
        why[lexical.model] = results.explain_result(state.lexical(), lexical)
except (QueryError, SearchIndexError) as e:  # a query to change, or an index that could not be repaired
    st.warning(str(e), icon="✋")
    st.stop()
for notice in {side.notice for side in (result.left, result.right) if side.notice}:
    st.info(url.literal(notice), icon="🛠️")
cat = rankers[left_name].catalog
found = no_answer(cat, result.left.query, [h.pid for side in (result.left, result.right) for h in side.hits])
components.no_answer(found, result.left.query_id is not None)
stats = st.columns(3)
ranks = [side.judged.rank if side.judged else None for side in (result.left, result.right)]
moved = f"{ranks[0] - ranks[1]:+,} places" if None not in ranks and ranks[0] != ranks[1] else None
if result.left.query_id is None:  # no judged passage: where the two models disagree most
    disagree.show(stats, result, len(cat))
else:
    for col, side, delta in zip(stats, (result.left, result.right), (None, moved)):
        col.metric(
            f"Judged passage · {url.literal(side.model)}",
            components.judged_rank(side.judged),
            delta=delta,
            help=f"Rank among all {len(cat):,} passages of the passage judged relevant",
        )
stats[2].metric(f"Overlap@{k}", f"{result.overlap:.0%}", help="Share of the top k that both models return")
with st.expander("How each passage moves between the two models", expanded=True):
    st.caption(
        f"Green, solid, ▲: {url.literal(result.right.model)} ranks the passage higher than "
        f"{url.literal(result.left.model)}; red, dashed, ▼: lower; grey, dotted: the same. Below the line: "
        "ranks beyond those shown. Thick: the judged passage."
        + ("" if result.left.query_id else " " + disagree.sentence(result))
    )
    st.plotly_chart(charts.rank_slopes(result, k), key="slopes", config={"displayModeBar": False})
components.secondary(
    "Badges give each passage's rank in the other model: ▲ ranked higher here, ▼ lower. "
    "Hover a card for its whole text."
)
columns = st.columns(3 if lexical else 2, gap="medium")
sides = zip(
    (result.left, result.right),
    (result.left_moves, result.right_moves),
    (result.right.model, result.left.model),
)
for col, (side, moves, other) in zip(columns, sides):
    with col:
        st.subheader(url.literal(side.model))
        seen = components.seen(side.tokens)  # the words highlighted: those the model saw
        components.secondary(components.answered_by(side, rankers[side.model]))
        for move in moves:
            components.card(
                move.hit,
                seen,
                side.unit,
                extra=components.movement(move, other, k),
                clamp=True,
                why=why[side.model][move.hit.pid],
            )
        if side.judged and side.judged.rank > k:
            st.caption(f"Judged passage, ranked #{side.judged.rank:,} of {len(cat):,}:")
            components.card(side.judged, seen, side.unit, clamp=True, why=why[side.model][side.judged.pid])
if lexical:
    with columns[2]:
        st.subheader("bm25")
        components.secondary(f"search {lexical.search_ms:.1f} ms · word matches only")
        for hit in lexical.hits:
            components.card(hit, lexical.query, lexical.unit, clamp=True, why=why[lexical.model][hit.pid])
        if not lexical.hits:
            st.info("No passage contains any of the query's words.")
        if lexical.query_id:
            st.caption(components.judged_summary(lexical.judged, len(cat), k, "bm25"))
