"""The embeddings and confused pages through AppTest (over test_app's 600-query corpus, where the
maps are fitted on first use), and the confused counts against `python -m core eval`."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os

import numpy as np
import pytest

from core.analysis.confused import counts, outcomes, select
from core.analysis.projection import load_projections
from core.analysis.regions import regions
from core.data.corpora import load_corpus
from core.retrieval.catalog import Catalog
from tests.app.test_app import CHECKPOINTS, app_env, cards, needs_app, open_page  # noqa: F401  (app_env: a fixture)
from tests.conftest import SAMPLE_QUERIES, demo_corpus, v11_rows, write_jsonl

EVAL_QUERIES = 300  # dev queries in the agreement test's corpus, with the train sample's multi-judged queries


def plots(at):
    return at.get("plotly_chart")


def traces(at, i: int) -> dict:
    return {t.get("name", "").split(" (")[0]: t for t in json.loads(plots(at)[i].proto.spec)["data"]}


def points(trace: dict) -> np.ndarray:
    """A trace's (x, y) rows; plotly writes arrays as lists or as typed base64 (`bdata`)."""

    def axis(a) -> np.ndarray:
        if isinstance(a, dict):
            return np.frombuffer(base64.b64decode(a["bdata"]), dtype=a["dtype"]).astype(float)
        return np.asarray(a, dtype=float)

    return np.column_stack([axis(trace["x"]), axis(trace["y"])])


def placement(shown: dict) -> tuple[float, float]:
    """(the median distance from the typed query's star to its exact top k on the map, the distance
    within which a quarter of the map's points lie from the star)."""
    star = points(shown["your query"])[0]
    every = np.concatenate([points(shown[n]) for n in ("other passage", "judged passage", "query")])
    near = np.linalg.norm(points(shown["your query's top k"]) - star, axis=1)
    return float(np.median(near)), float(np.quantile(np.linalg.norm(every - star, axis=1), 0.25))


@needs_app
def test_embeddings_page_places_a_query_among_its_true_neighbours(app_env):
    at = open_page("views/pages/embeddings.py")
    assert [s.value for s in at.subheader] == ["random", "hard"] and len(plots(at)) == 2
    said = " ".join(c.value for c in at.caption)
    assert "distort distances" in said and "flattened by UMAP" in said and "PCA" not in said
    assert (app_env / "umap" / "random+hard-2d.npz").is_file()  # one aligned fit for both
    figure = json.loads(plots(at)[0].proto.spec)
    assert {"other passage", "judged passage", "query"} <= set(traces(at, 0))
    assert figure["layout"]["yaxis"]["scaleanchor"] == "x", "equal axes"
    assert figure["layout"]["annotations"], "region labels"
    assert "query type" not in at.selectbox(key="colour").options  # the dev data has no types

    query = open_page("views/pages/compare.py").button[0].label  # a validation query
    at = open_page("views/pages/embeddings.py", q=query, k="5")
    assert {m.label for m in at.metric} == {"Judged passage · random", "Judged passage · hard"}
    assert any("placed on the map in" in c.value for c in at.caption)
    assert len(cards(at)) >= 10 and any("judged relevant" in c for c in cards(at))
    assert {"your query", "your query's top k", "its judged passage"} <= set(traces(at, 1))
    placed = [placement(traces(at, i)) for i in range(2)]
    print(f"(median distance to the top k, a quarter of the points within) per map: {placed}")
    assert all(near <= quarter for near, quarter in placed), "the query lands among its true neighbours"

    at.selectbox(key="colour").set_value("correct vs confused").run()
    assert {"correct", "confused"} <= set(traces(at, 0))
    at = open_page("views/pages/embeddings.py", show="right only", q="<b>what</b> is a python")
    assert len(plots(at)) == 1
    assert traces(at, 0)["your query"]["hovertext"] == ["&lt;b&gt;what&lt;/b&gt; is a python"]  # as typed
    at.text_input(key="q").input("😀").run()
    assert "vocabulary" in " ".join(w.value for w in at.warning)


@needs_app
def test_map_highlights_lie_above_the_points_in_readable_text(app_env):
    query = open_page("views/pages/compare.py").button[0].label
    at = open_page("views/pages/embeddings.py", q=query, point="p3")
    figure = json.loads(plots(at)[0].proto.spec)
    kinds = [t["type"] for t in figure["data"]]
    assert set(kinds) == {"scattergl"}, "one WebGL layer: each trace drawn over those before it"
    names = [t.get("name", "").split(" (")[0] for t in figure["data"]]
    points = max(names.index(n) for n in ("other passage", "judged passage", "query"))
    for highlight in ("your query's top k", "your query", "selected point", "its nearest neighbours"):
        assert names.index(highlight) > points, highlight
    layout = figure["layout"]
    assert layout["font"]["size"] >= 14 and layout["legend"]["font"]["size"] >= 14
    labels = layout["annotations"]
    assert labels and all(a["font"]["size"] >= 14 for a in labels), "region labels"


@needs_app
def test_the_maps_are_flat_and_the_mouse_wheel_scrolls_the_page(app_env):
    """Item 5: no 3-D view (its two maps turned separately, labels under the points); item 7: the
    wheel never zooms a map it passes over, buttons do."""
    at = open_page("views/pages/embeddings.py", dims="3")
    assert not [s for s in at.selectbox if s.label == "Map"], "no 2-D / 3-D picker"
    for plot in plots(at):
        assert {t["type"] for t in json.loads(plot.proto.spec)["data"]} == {"scattergl"}
        config = json.loads(plot.proto.config)
        assert config["scrollZoom"] is False and "zoomIn2d" in config["modeBarButtons"][0]
    assert "mouse wheel scrolls the page" in " ".join(c.value for c in at.caption)


@needs_app
def test_passages_show_under_the_queries_and_both_maps_name_the_same_regions(app_env):
    """Item 8: the many queries drawn small and see-through between the passages and the judged ones;
    legend symbols full size; one label per region on both aligned maps; none over the query's star."""
    query = open_page("views/pages/compare.py").button[0].label
    at = open_page("views/pages/embeddings.py", q=query)
    shown = traces(at, 0)
    names = list(shown)
    assert names.index("other passage") < names.index("query") < names.index("judged passage")
    passage, asked = shown["other passage"]["marker"], shown["query"]["marker"]
    assert passage["size"] >= asked["size"] and passage["opacity"] >= asked["opacity"]
    layout = [json.loads(p.proto.spec)["layout"] for p in plots(at)]
    assert layout[0]["legend"]["itemsizing"] == "constant"
    named = [{a["text"] for a in page["annotations"]} for page in layout]
    first = load_projections(app_env / "umap" / "random+hard-2d.npz")[0]
    left = {label for _, label in regions(first, Catalog(load_corpus(os.environ["MSMARCO_SOURCE"])))}
    assert named[0] and named[1] and named[0] | named[1] <= left, (named, left)


def test_region_labels_never_overlap_and_stay_inside_the_map():
    from views.parts.map_chart import spaced_labels

    regions = [
        ((0.0, 0.0), "coffee · beans"),
        ((0.2, 0.1), "espresso · crema"),
        ((9.9, 5.0), "rain · floods"),
    ]
    kept = spaced_labels(regions, [0, 0], [10, 10], (400, 400), 14)
    assert [label for *_, label, _ in kept] == ["coffee · beans", "rain · floods"]  # the second overlapped
    assert [anchor for *_, anchor in kept] == ["left", "right"]  # at the edges: drawn inwards
    assert len(spaced_labels(regions, [0, 0], [10, 10], (4000, 4000), 14)) == 3  # room for all
    star = [(9.8, 5.02)]  # the typed query, under the third label: that label gives way
    kept = spaced_labels(regions, [0, 0], [10, 10], (4000, 4000), 14, keep_clear=star)
    assert [label for *_, label, _ in kept] == ["coffee · beans", "espresso · crema"]


@needs_app
def test_a_found_point_is_ringed_on_both_maps_with_its_neighbours(app_env):
    at = open_page("views/pages/embeddings.py")
    text = next(t for t in json.loads(plots(at)[0].proto.spec)["data"][0]["text"] if "&" not in t)[:30]
    at.text_input(key="find").input(text).run()
    point = at.query_params["point"]
    assert point.startswith(("p", "q"))
    for i in (0, 1):
        ringed = traces(at, i)
        assert len(ringed["selected point"]["x"]) == 1 and len(ringed["its nearest neighbours"]["x"]) == 5
    assert at.metric[0].label == "Neighbours kept"
    at = open_page("views/pages/embeddings.py", point=point)  # a shared link
    assert "selected point" in traces(at, 1)
    next(b for b in at.button if b.label == "Clear the selection").click().run()
    assert "selected point" not in traces(at, 0) and "point" not in at.query_params


@needs_app
def test_confused_page_counts_filters_and_keeps_the_open_query(app_env):
    at = open_page("views/pages/confused.py")
    m = {x.label: int(x.value.replace(",", "")) for x in at.metric}
    sizes = {o: int(o.rsplit("(", 1)[1].rstrip(")").replace(",", "")) for o in at.radio(key="filter").options}
    fixed, broken, both = (
        next(v for k, v in sizes.items() if k.startswith(p))
        for p in ("fixed by hard", "broken by hard", "confused in both")
    )
    assert fixed + both == m["Confused · random"] and broken + both == m["Confused · hard"] > 0
    assert at.radio(key="filter").value == "fixed" and at.selectbox(key="model").value == "random"  # default
    table = at.dataframe[0].value  # random's mistakes that hard fixes, worst first
    assert len(table) == fixed and (table["judged rank"] > 1).all() and (table["rank in hard"] == 1).all()
    if not fixed:  # in this sample of 600 queries, hard may fix none of random's mistakes: it says so
        assert "No validation query in this group." in [i.value for i in at.info]
        at.radio(key="filter").set_value("both").run()
        table = at.dataframe[0].value  # the mistakes both make, worst first
        assert len(table) == both and (table["judged rank"] > 1).all() and (table["rank in hard"] > 1).all()
    assert list(table["judged rank"]) == sorted(table["judged rank"], reverse=True)
    shown = cards(at)
    assert len(shown) == 2 and "judged relevant" in shown[1] and "judged relevant" not in shown[0]
    assert any('class="tok' in h.value for h in at.html), "the query's tokens"
    qid, query = at.session_state.qid, at.subheader[0].value.strip("“”")  # the worst one
    assert "qid" not in at.query_params, "opened by default: left out of the URL (Back takes one press)"

    at.selectbox(key="sort").set_value("score gap").run()
    gaps = list(at.dataframe[0].value["gap"])
    assert gaps == sorted(gaps, reverse=True)
    assert at.subheader[0].value.strip("“”") == query and at.session_state.qid == qid  # by id, not by row
    at.selectbox(key="model").set_value("hard").run()
    assert at.subheader[0].value.strip("“”") == query and at.session_state.qid == qid
    # a filter the open query is not in: hard's mistakes (it came from those hard fixes), or else those
    # only hard makes (it came from those both make)
    other, size = ("confused", m["Confused · hard"]) if fixed else ("broken", broken)
    origin = "fixed" if fixed else "both"
    at.radio(key="filter").set_value(other).run()
    table = at.dataframe[0].value
    assert len(table) == size and (table["judged rank"] > 1).all()
    assert at.subheader[0].value.strip("“”") == query, "kept through a filter it is not in"
    assert "Kept open from before" in " ".join(c.value for c in at.caption)

    at = open_page(
        "views/pages/confused.py", model="random", filter=origin, sort="score gap", qid=qid
    )  # a shared link
    assert at.selectbox(key="model").value == "random" and at.radio(key="filter").value == origin
    assert at.subheader[0].value.strip("“”") == query and at.query_params["qid"] == qid
    at = open_page("views/pages/confused.py", qid="no-such-query")
    assert "not a validation query" in " ".join(w.value for w in at.warning)


@pytest.mark.skipif(
    not all(p.is_file() for p in CHECKPOINTS.values()),
    reason="needs real checkpoints",
)
def test_confused_counts_agree_with_core_eval(tmp_path):
    """A query is confused when its judged passage is not at rank 1; `eval`'s recall@1 counts the
    other queries, each 1/(its judged passages), so the two must match to `eval`'s 4 decimals."""
    from core.data.corpora import load_corpus
    from core.pipeline.cli import main
    from core.retrieval.catalog import Catalog
    from core.retrieval.dense import DenseRanker

    several = [
        row
        for row in v11_rows(demo_corpus(), start=-SAMPLE_QUERIES)
        if sum(row["passages"]["is_selected"]) > 1
    ]  # the train sample's queries with 2+ judged passages
    data = write_jsonl(tmp_path / "corpus.jsonl", v11_rows(demo_corpus(), stop=EVAL_QUERIES) + several)
    catalog = Catalog(load_corpus(str(data)))
    engines = {n: DenseRanker(n, p, catalog, chroma_path=tmp_path / "chroma") for n, p in CHECKPOINTS.items()}
    items = outcomes(engines["random"], engines["hard"])
    assert sum(len(catalog.corpus.positives[o.query_id]) > 1 for o in items) > 0, (
        "a query with several judged passages"
    )
    c = counts(items)
    for side, name in enumerate(("random", "hard")):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert (
                main(
                    [
                        "eval",
                        "--checkpoint",
                        str(CHECKPOINTS[name]),
                        "--data",
                        str(data),
                        "--split",
                        "val",
                        "--json",
                    ]
                )
                == 0
            )
        full = json.loads(out.getvalue())["full"]
        assert full["queries"] == c["queries"] == len(items)
        right = sum(1 / len(catalog.corpus.positives[o.query_id]) for o in items if o.sides[side].rank == 1)
        assert right == pytest.approx(full["recall@1"] * full["queries"], abs=full["queries"] * 5e-5 + 1e-9)
        assert c["confused"][side] == len(select(items, side)) == sum(o.sides[side].rank > 1 for o in items)
