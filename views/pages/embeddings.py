"""The embedding space on UMAP maps aligned across two checkpoints, so a passage's movement shows:
regions named by their words, a typed query placed with lines to its top k and its judged passage,
and a clicked or found point shown below the maps and ringed on both, with its nearest neighbours."""

import time
from functools import partial

import streamlit as st

from core.analysis.layout import MIN_UMAP_POINTS
from core.analysis.projection import locate
from core.analysis.results import ResultHit
from core.retrieval.queries import QueryError
from views.parts import components, map_chart, state, url
from views.parts.points import find_points, has_query_types

SHOW = ("both maps", "left only", "right only")
NEIGHBOURS = 5

components.style()
st.title("🗺️ Embeddings")
checkpoints = state.checkpoints()
names = list(checkpoints)
defaults = {
    "q": "",
    "k": 10,
    "a": names[0],
    "b": names[min(1, len(names) - 1)],
    "show": SHOW[0],
    "colour": "role",
    "point": "",
}
choices = {
    "k": range(1, 51),
    "a": names,
    "b": names,
    "show": SHOW,
    "colour": list(map_chart.COLOUR_BY),
}
components.link_notices(url.url_state(defaults, choices))


def pick_point(point: str) -> None:
    st.session_state.point = point


def clicked(key: str) -> None:
    """Map callback: the clicked (or first box-selected) point becomes the selected one."""
    chosen = [p["customdata"] for p in st.session_state[key].selection.points if p.get("customdata")]
    if chosen:
        pick_point(chosen[0])


def found(points) -> None:
    """Find-box callback: the first point whose text contains what was typed becomes the selected one."""
    st.session_state.matches = find_points(points, st.session_state.find)
    pick_point(st.session_state.matches[0] if st.session_state.matches else "")


box, left_pick, right_pick, depth = st.columns([5, 2, 2, 2], vertical_alignment="bottom")
query = box.text_input("Query", key="q", placeholder="Type a query to place it on the maps")
a = left_pick.selectbox("Left", names, key="a")
b = right_pick.selectbox("Right", names, key="b")
k = depth.slider("Top k", 1, 50, key="k")
find_box, show_pick, colour_pick = st.columns([5, 3, 3], vertical_alignment="bottom")
show = show_pick.selectbox("Show", SHOW, key="show")
components.same_checkpoint(a, b)

pair = list(dict.fromkeys([a, b]))
maps = state.embedding_maps([checkpoints[n] for n in pair])
shown = pair if show == SHOW[0] else [a if show == SHOW[1] else b]
outcomes = state.confusions(checkpoints[names[0]], checkpoints[names[1]]) if len(names) >= 2 else []
side_of = {names[0]: 0, names[1]: 1} if len(names) >= 2 else {}
points = {}
for name in pair:
    confused = {o.query_id: o.sides[side_of[name]].rank > 1 for o in outcomes} if name in side_of else {}
    points[name] = state.points(checkpoints[name], maps[name], confused)
colours = [c for c in map_chart.COLOUR_BY if c != "query type" or has_query_types(points[a])]
if st.session_state.colour not in colours:
    st.session_state.colour = colours[0]
colour = colour_pick.selectbox("Colour by", colours, key="colour")
find_box.text_input(
    "Find a point by its text",
    key="find",
    on_change=found,
    args=(points[a],),
    placeholder="e.g. shingles vaccine",
)
url.save_url(["q", "k", "a", "b", "show", "colour", "point"])
method = maps[a].projection.method
flattened = (
    "flattened by UMAP (cosine), the two maps fitted together"
    if method == "UMAP"
    else f"flattened by PCA (too few points for UMAP: fewer than {MIN_UMAP_POINTS}), the second map turned"
)
st.caption(  # the page's explanation: shown in presentation mode too
    "Each point is a passage or a validation query placed by the dense (meaning) part of its vector, "
    f"{flattened} so that a passage sits in the same region on both unless the models disagree "
    "about it; the words it shares with a query are not drawn. **The maps distort distances**: the "
    "true nearest neighbours (exact cosine of the whole vectors) are listed below them. Click a "
    "point, or find it by its text; drag to pan, zoom with the + and − buttons over a map (the mouse "
    "wheel scrolls the page)."
)

located = {}
if query:
    try:
        located = {name: locate(maps[name], checkpoints[name], query, k) for name in shown}
    except QueryError as e:
        st.warning(str(e), icon="✋")
point = st.session_state.point if st.session_state.point in maps[a].position else ""
ringed = {name: [point, *maps[name].neighbours(point, NEIGHBOURS)] if point else [] for name in shown}

for col, name in zip(st.columns(len(shown), gap="medium"), shown):  # side by side, 400 px or more at 1024
    with col:
        t0 = time.perf_counter()
        fig = map_chart.map_figure(
            points[name],
            colour,
            located.get(name),
            ringed[name],
            state.regions(checkpoints[a], maps[a], maps[name]),  # the left map's regions, on both
            width=470 if len(shown) > 1 else 820,
        )
        st.subheader(url.literal(name))
        st.plotly_chart(
            fig,
            key=f"map_{name}",
            on_select=partial(clicked, f"map_{name}"),
            selection_mode="points",
            config=map_chart.CONFIG,
        )
        p = maps[name].projection
        total = len(checkpoints[name].catalog)
        drawn = f"{total:,} passages" if len(p.rows) == total else f"{len(p.rows):,} of {total:,} passages"
        sample = "" if len(p.rows) == total else " (a fixed sample, every judged one in it)"
        components.secondary(
            f"{drawn}{sample} + {len(p.query_ids):,} validation queries · {p.method} fit "
            f"{p.fit_seconds:.0f} s (once, stored) · "
            f"figure {1e3 * (time.perf_counter() - t0):.0f} ms"
        )

if point:  # below the maps: the selected point, and its nearest neighbours in each model
    text = dict(zip(points[a].id, points[a].text))
    chosen, *lists = st.columns([1.2] + [1] * len(shown), gap="medium")
    with chosen:
        st.markdown(f"**Selected {'query' if point.startswith('q') else 'passage'}**")
        components.text_card(text[point])
        near = {name: ringed[name][1:] for name in shown}
        if len(shown) > 1:
            same = len(set(near[shown[0]]) & set(near[shown[1]]))
            st.metric(
                "Neighbours kept",
                f"{same} of {NEIGHBOURS}",
                help=f"Of its {NEIGHBOURS} nearest points (exact cosine), how many both models share",
            )
        st.button("Clear the selection", on_click=pick_point, args=("",), width="stretch")
        for other in st.session_state.get("matches", [])[1:NEIGHBOURS]:
            st.button(
                url.literal(text[other][:60]),
                key=f"match_{other}",
                on_click=pick_point,
                args=(other,),
                width="stretch",
                wrap=True,
                help="Another point matching what you typed",
            )
    for col, name in zip(lists, shown):
        with col:
            st.markdown(f"**Nearest in {url.literal(name)}** (ringed)")
            components.text_list([text[p] for p in near[name]])
for col, (name, hit) in zip(st.columns(max(len(located), 1), gap="medium"), located.items()):
    with col:
        cat = checkpoints[name].catalog
        if hit.judged:
            st.metric(
                f"Judged passage · {url.literal(name)}",
                f"#{min(r for _, r, _ in hit.judged):,}",
                help="Where this model ranks the passage judged relevant, among all passages",
            )
        components.secondary(
            f"{url.literal(name)}: query encoded and placed on the map in {hit.project_ms:.1f} ms"
        )
        seen = components.seen(checkpoints[name].tokens(query)[0])  # the words the model saw
        with st.expander(f"True nearest neighbours · {url.literal(name)}", expanded=not point):
            judged_rows = {r for r, _, _ in hit.judged}
            for rank, (row, score) in enumerate(hit.neighbours, 1):
                hit_row = ResultHit(rank, cat.pids[row], score, cat.display_text(row), row in judged_rows)
                components.card(hit_row, seen, clamp=True)
if not point and not located:
    st.info("Type a query above to place it on the maps, click a point, or find one by its text.", icon="💡")
