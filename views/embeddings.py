"""The embedding space on a UMAP map: passages and validation queries, a typed query placed among
them with lines to its top k and its judged passage, and its true nearest neighbours beside."""
import html
import time

import streamlit as st

import app_state as ui
from core.engine import QueryError, ResultHit
from core.projection import locate

ui.style()
st.title("🗺️ Embeddings")
engines = ui.engines()
names = list(engines)
views = ["both side by side", *names] if len(names) >= 2 else names
ui.url_state({"q": "", "k": 10, "view": views[0], "dims": 2, "colour": "role"},
             {"k": range(1, 51), "view": views, "dims": (2, 3), "colour": list(ui.COLOUR_BY)})

box, pick, depth = st.columns([6, 3, 2], vertical_alignment="bottom")
query = box.text_input("Query", key="q", placeholder="Type a query to place it on the map, e.g. what is dysgraphia?")
view = pick.selectbox("Checkpoint", views, key="view")
k = depth.slider("Top k", 1, 50, key="k")
colour_pick, dims_pick = st.columns([3, 2])
colour = colour_pick.radio("Colour by", list(ui.COLOUR_BY), key="colour", horizontal=True)
dims = dims_pick.radio("Map", (2, 3), key="dims", horizontal=True, format_func=lambda d: f"{d}-D")
ui.save_url(["q", "k", "view", "dims", "colour"])
st.caption("Each point is a passage or a validation query as the checkpoint embeds it, flattened by UMAP (cosine). "
           "**The map distorts distances**: points close on it need not be close in the 128-d space, so the "
           "true nearest neighbours (exact cosine) are listed beside it. Hover a point for its text; click or "
           "box-select points to read them in full.")

shown = names[:2] if view == "both side by side" else [view]
outcomes = ui.confusions(engines[names[0]], engines[names[1]]) if len(names) >= 2 else []
maps = {name: ui.embedding_map(engines[name], dims) for name in shown}
located = {}
if query:
    try:
        located = {name: locate(maps[name], engines[name], query, k) for name in shown}
    except QueryError as e:
        st.warning(str(e), icon="✋")

side_of = {names[0]: "first", names[1]: "second"} if len(names) >= 2 else {}
selected = []
if len(shown) > 1:
    columns, panel = st.columns(len(shown), gap="medium"), st.container()
    besides = columns
else:
    main, panel = st.columns([3, 1], gap="medium")
    columns, besides = [main], [panel]
for col, beside, name in zip(columns, besides, shown):
    with col:
        t0 = time.perf_counter()
        confused = {o.query_id: getattr(o, side_of[name]).rank > 1 for o in outcomes} if name in side_of else {}
        points = ui.points(engines[name], maps[name], confused)
        hit = located.get(name)
        fig = ui.map_figure(points, colour, dims, hit, hit.xy if hit else None, height=560 if len(shown) > 1 else 640)
        st.subheader(name)
        event = st.plotly_chart(fig, key=f"map_{name}_{dims}", on_select="rerun", config={"scrollZoom": True})
        build_ms = (time.perf_counter() - t0) * 1e3
        p = maps[name].projection
        st.caption(f"{len(p.rows):,} passages + {len(p.query_ids):,} validation queries · UMAP fit {p.fit_seconds:.0f} s "
                   f"(once, stored) · figure built in {build_ms:.0f} ms")
        selected += [pt["customdata"] for pt in (event.selection.points if event else []) if pt.get("customdata")]
    with beside:
        if hit:
            st.metric(f"Projecting your query · {name}", f"{hit.project_ms:.1f} ms",
                      help="Encoding the typed query and placing it among its nearest fitted points")
            st.markdown(f"**True nearest neighbours · {name}** (cosine in the original space)")
            cat, judged_rows = engines[name].catalog, {r for r, _, _ in hit.judged}
            for rank, (row, score) in enumerate(hit.neighbours, 1):
                ui.card(ResultHit(rank, cat.pids[row], score, cat.display_text(row), row in judged_rows), query, clamp=True)
            for row, rank, score in hit.judged:
                if rank > k:
                    st.caption(f"Its judged passage, ranked #{rank:,}:")
                    ui.card(ResultHit(rank, cat.pids[row], score, cat.display_text(row), True), query, clamp=True)

with panel:
    if selected:
        text_of = {i: t for i, t in zip(points.id, points.text)}
        st.markdown(f"**Selected points** ({len(selected)}; the first 5 shown)")
        for point in list(dict.fromkeys(selected))[:5]:
            kind = "Query" if point.startswith("q") else "Passage"
            st.html(f'<div class="card"><div class="card-head"><b>{kind}</b></div>'
                    f'<div class="card-text">{html.escape(text_of.get(point, ""))}</div></div>')
    elif not query:
        st.info("Type a query above to place it on the map, or click points to read them.", icon="💡")
