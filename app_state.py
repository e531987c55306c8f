"""What the pages share: the engines (loaded once per process), URL-backed widget state and the
HTML of result cards. Setup problems become one friendly message with what to do, never a trace."""
from __future__ import annotations

import html
from collections.abc import Mapping
from contextlib import contextmanager

import plotly.graph_objects as go
import streamlit as st

from core.artifacts import artifacts_dir
from core.data import SOURCE_ENV, DataSourceError, load_corpus, resolve_source
from core.engine import (PREFERRED, Catalog, Engine, Example, KeyedCache, Lexical, Moved, QueryToken,
                         ResultHit, example_queries, find_checkpoints, highlight)
from core.confused import Outcome, outcomes
from core.config import ProjectionConfig
from core.index import SearchIndexError
from core.model import CheckpointError
from core.projection import EmbeddingMap, ensure_projection, map_points

SETUP_HELP = (
    f"**What to do:** set `{SOURCE_ENV}` to a local MS MARCO v1.1 `.jsonl`/`.parquet` file or folder "
    f"(e.g. `{SOURCE_ENV}=../shared/msmarco`), or leave it unset to download from the Hugging Face hub; "
    "then run `python -m core build` to train the checkpoints into `artifacts/` (or point `ARTIFACTS_DIR` "
    "at a folder holding `random/model.pt` and `hard/model.pt`), and reload this page."
)

CSS = """<style>
.card { border: 1px solid rgba(128,128,128,.28); border-radius: .6rem; padding: .7rem .9rem; margin-bottom: .6rem; }
.card.judged { border: 2px solid #2e9e5b; background: rgba(46,158,91,.07); }
.card-head { display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; margin-bottom: .3rem; font-size: .9rem; }
.rank { font-weight: 700; font-size: 1.05rem; }
.score { color: rgba(128,128,128,1); font-variant-numeric: tabular-nums; }
.badge { border-radius: 1rem; padding: 0 .55rem; font-size: .8rem; font-weight: 600; white-space: nowrap; }
.badge.judged { background: #2e9e5b; color: white; }
.badge.up { background: rgba(46,158,91,.16); color: #1f7a45; }
.badge.down { background: rgba(214,69,65,.14); color: #b3332f; }
.badge.same { background: rgba(128,128,128,.16); }
.badge.new { background: rgba(52,120,246,.15); color: #2356c4; }
.card-text { line-height: 1.5; font-size: .95rem; }
.card-text.clamp { display: -webkit-box; -webkit-line-clamp: 6; -webkit-box-orient: vertical; overflow: hidden; }
.card:hover .card-text.clamp { -webkit-line-clamp: unset; }
.card-text mark { background: rgba(255,204,0,.45); color: inherit; padding: 0 .1rem; border-radius: .2rem; }
.tokens { display: flex; flex-wrap: wrap; gap: .3rem; }
.tok { border: 1px solid rgba(128,128,128,.35); border-radius: .35rem; padding: .1rem .4rem; font-family: monospace; font-size: .85rem; }
.tok.oov { border-color: #d64541; background: rgba(214,69,65,.12); text-decoration: line-through; }
</style>"""


@contextmanager
def friendly_errors():
    """Show a data, checkpoint or index problem as a message with what to do, and stop the page."""
    try:
        yield
    except (DataSourceError, CheckpointError, SearchIndexError) as e:
        st.error(f"**The search engine could not start.** {e}\n\n{SETUP_HELP}", icon="🛠️")
        st.stop()


# --- resources, loaded once per process ----------------------------------------------------------

@st.cache_resource(show_spinner="Loading the MS MARCO passages…")
def _catalog(source: str) -> Catalog:
    return Catalog(load_corpus(source))


@st.cache_resource
def _engines() -> KeyedCache:
    """Engines shared by every session of this process. Not a cached function, so an index build can
    drive a progress bar in the page that triggered it; one lock per checkpoint keeps two sessions from
    building one index twice, and never holds up a search on a checkpoint that is already open."""
    return KeyedCache()


@st.cache_resource(show_spinner="Fitting BM25 on the corpus…")
def _lexical(source: str, _catalog: Catalog) -> Lexical:
    return Lexical(_catalog)


@st.cache_resource(show_spinner="Finding validation queries the two models disagree on…")
def _examples(key: tuple, _first: Engine, _second: Engine) -> list[Example]:
    return example_queries(_first, _second)


@st.cache_resource(show_spinner="Ranking every validation query with both checkpoints…")
def _outcomes(key: tuple, _first: Engine, _second: Engine) -> list[Outcome]:
    return outcomes(_first, _second)


@st.cache_resource
def _maps() -> KeyedCache:
    return KeyedCache()


@st.cache_resource(show_spinner=False)
def _points(key: tuple, _emap: EmbeddingMap, _catalog: Catalog, _confused: dict):
    return map_points(_emap.projection, _catalog, _confused)


def catalog() -> Catalog:
    with friendly_errors():
        return _catalog(resolve_source())


class _Shelf(Mapping):
    """Checkpoints by name; an engine is opened (its index built under a progress bar) when first
    asked for, so a folder of training runs costs nothing until one is picked."""

    def __init__(self, paths: dict, open_engine):
        self.paths, self.open_engine = paths, open_engine

    def __getitem__(self, name: str) -> Engine:
        return self.open_engine(name, self.paths[name])

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def engines() -> Mapping[str, Engine]:
    """Every checkpoint under the artifacts folder (training runs included). The committed pair is
    opened now; any other checkpoint when a page first asks for it."""
    cat, source, shared = catalog(), resolve_source(), _engines()
    with friendly_errors():
        artifacts = artifacts_dir()
        paths = find_checkpoints(artifacts)

    def open_engine(name, path) -> Engine:
        def make() -> Engine:
            bar = st.progress(0.0, text=f"Opening the {name} model…")
            engine = Engine(name, path, cat, chroma_path=artifacts / "chroma",
                            progress=lambda done, text: bar.progress(done, text=text))
            bar.empty()
            if engine.notice:                     # its index was unreadable and has been rebuilt
                st.info(engine.notice, icon="🛠️")
            return engine

        with friendly_errors():
            key = (name, str(path), path.stat().st_mtime_ns, source, str(artifacts / "chroma"))
            # a rebuilt checkpoint (same name, new file): its old engine and index are replaced
            return shared.get(key, make, replaces=lambda old: (old[0], old[4]) == (name, key[4]))

    for name in PREFERRED:
        if name in paths:
            open_engine(name, paths[name])
    return _Shelf(paths, open_engine)


def lexical() -> Lexical:
    return _lexical(resolve_source(), catalog())


def examples(first: Engine, second: Engine) -> list[Example]:
    key = (resolve_source(), first.name, id(first), second.name, id(second))
    return _examples(key, first, second)


def confusions(first: Engine, second: Engine) -> list[Outcome]:
    """Every validation query through both checkpoints (core.confused), once per process."""
    return _outcomes((resolve_source(), first.name, id(first), second.name, id(second)), first, second)


def embedding_map(engine: Engine, dims: int) -> EmbeddingMap:
    """The checkpoint's UMAP map (core.projection), loaded or, when missing or stale, fitted under a
    progress bar; then kept, with its points' vectors, for every session of this process."""
    artifacts = artifacts_dir()

    def make() -> EmbeddingMap:
        bar = st.progress(0.0, text=f"Opening the {dims}-D map of the {engine.name} model…")
        projection, _ = ensure_projection(artifacts, engine.name, engine.fingerprint, engine.catalog.corpus,
                                          engine.encoder, engine.vectors, engine.val_fraction,
                                          ProjectionConfig(), dims,
                                          progress=lambda done, text: bar.progress(done, text=text))
        bar.empty()
        return EmbeddingMap.for_engine(projection, engine)
    return _maps().get((engine.name, id(engine), dims, str(artifacts)), make)


def points(engine: Engine, emap: EmbeddingMap, confused: dict[str, bool]):
    """The map's points table (core.projection.map_points), made once per map and process."""
    return _points((engine.name, id(engine), id(emap), len(confused)), emap, engine.catalog, confused)


# --- state in the URL ----------------------------------------------------------------------------

def url_state(defaults: dict, choices: dict | None = None) -> None:
    """Seed widget keys when a page opens: from the URL (a shared link reopens the same view), else
    from the values last used on any page (the query follows you from Search to Compare), else the
    default. Values that do not parse, or are not among `choices`, fall back to the default."""
    choices, kept = choices or {}, st.session_state.setdefault("kept", {})
    for key, default in defaults.items():
        if key in st.session_state:
            continue
        raw, value = st.query_params.get(key), kept.get(key, default)
        if raw is not None:
            try:
                value = raw.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(raw)
            except ValueError:
                value = default
        st.session_state[key] = value if key not in choices or value in choices[key] else default


def save_url(keys: list[str]) -> None:
    """Remember the current widget values and write them to the URL (empty ones are left out)."""
    st.session_state.kept.update({k: st.session_state[k] for k in keys})
    st.query_params.from_dict({k: str(st.session_state[k]) for k in keys if st.session_state[k] not in ("", None)})


def set_query(text: str) -> None:
    """Button callback: put `text` in the query box."""
    st.session_state.q = text


# --- rendering -----------------------------------------------------------------------------------

def style() -> None:
    st.html(CSS)


def marked(text: str, query: str) -> str:
    """`text` as HTML with the query's words in <mark>; everything escaped."""
    return "".join(f"<mark>{html.escape(p)}</mark>" if hit else html.escape(p) for p, hit in highlight(text, query))


def movement(move: Moved, other: str) -> str:
    """A badge: how many places higher (▲) or lower (▼) this model ranks the passage than `other`."""
    where = f"{html.escape(other)} #{move.other_rank:,}"
    if move.new:
        return f'<span class="badge new" title="not in {html.escape(other)}\'s top k">new · {where}</span>'
    if move.change:
        kind, arrow = ("up", "▲") if move.change > 0 else ("down", "▼")
        return f'<span class="badge {kind}">{arrow} {abs(move.change)} · {where}</span>'
    return f'<span class="badge same">= {where}</span>'


def example_buttons(items: list[Example]) -> None:
    """Example queries to click, each with where the two models rank its judged passage."""
    for col, ex in zip(st.columns(3) * 2, items):
        col.button(ex.query, on_click=set_query, args=(ex.query,), use_container_width=True,
                   help=" · ".join(f"{m} ranks the judged passage #{r:,}" for m, r in ex.ranks.items()))
        col.caption(" → ".join(f"{m} #{r:,}" for m, r in ex.ranks.items()))


def card(hit: ResultHit, query: str, score_label: str = "cos", extra: str = "", clamp: bool = False) -> None:
    """A result: rank, score, badges, the passage with the query's words marked (with `clamp`, cut to
    six lines until the pointer rests on it)."""
    judged = '<span class="badge judged">✓ judged relevant</span>' if hit.judged else ""
    st.html(f'<div class="card{" judged" if hit.judged else ""}"><div class="card-head">'
            f'<span class="rank">#{hit.rank}</span><span class="score">{score_label} {hit.score:.3f}</span>'
            f'{judged}{extra}</div><div class="card-text{" clamp" if clamp else ""}">{marked(hit.text, query)}</div></div>')


def tokens(items: list[QueryToken], dropped: int) -> None:
    """The query's tokens as chips; unknown ones (the model saw <unk>) struck out."""
    chips = "".join(f'<span class="tok" title="in the vocabulary">{html.escape(t.text)}</span>' if t.known else
                    f'<span class="tok oov" title="unknown: the model saw &lt;unk&gt;">{html.escape(t.text)}</span>'
                    for t in items)
    cut = (f"<small>{dropped} more token{'s' if dropped != 1 else ''} past the model's query length "
           "went unseen.</small>") if dropped else ""
    st.html(f'<div class="tokens">{chips}</div>{cut}')


def judged_summary(hit: ResultHit | None, total: int, k: int, name: str) -> str:
    """One line: where the judged passage sits for model `name`."""
    if hit is None:
        return f"**{name}**: the judged passage shares no word with the query, so BM25 does not rank it"
    where = f"in the top {k}" if hit.rank <= k else f"outside the top {k}"
    return f"**{name}** ranks the judged passage **#{hit.rank:,}** of {total:,} ({where})"


# --- the embeddings map ----------------------------------------------------------------------------

COLOURS = {"other passage": "#c3c7cf", "judged passage": "#2e9e5b", "query": "#3478f6", "correct": "#3478f6",
           "confused": "#e8590c", "passage": "#c3c7cf", "unknown": "#a9b4c2"}
TYPE_COLOURS = ["#3478f6", "#e8590c", "#9c36b5", "#f59f00", "#1098ad", "#d6336c", "#5c940d", "#495057"]
COLOUR_BY = {"role": "role", "correct vs confused": "outcome", "query type": "query_type"}


def _trace(points, name: str, colour: str, dims: int, size: float, symbol: str = "circle", opacity: float = 0.75):
    marker = dict(color=colour, size=size, symbol=symbol, opacity=opacity, line=dict(width=0))
    common = dict(name=f"{name} ({len(points):,})", mode="markers", marker=marker, customdata=points.id,
                  text=points.short, hovertemplate="<b>" + html.escape(name) + "</b><br>%{text}<extra></extra>")
    if dims == 3:
        return go.Scatter3d(x=points.x, y=points.y, z=points.z, **{**common, "marker": {**marker, "size": size * 0.6}})
    return go.Scattergl(x=points.x, y=points.y, **common)


def map_figure(points, colour_by: str, dims: int, typed=None, typed_xy=None, height: int = 560) -> go.Figure:
    """Passages and queries coloured by `colour_by` (a key of COLOUR_BY); with `typed` (a
    core.projection.Located), the query as a star with lines to its top k and its judged passage."""
    column = COLOUR_BY[colour_by]
    groups = list(dict.fromkeys(["other passage", "passage", "judged passage", *sorted(points[column].unique())]))
    extra = iter(TYPE_COLOURS)
    fig = go.Figure()
    for g in groups:
        part = points[points[column] == g]
        if len(part):
            colour = COLOURS.get(g) if column != "query_type" or g in ("passage", "unknown") else next(extra, "#495057")
            background = g in ("other passage", "passage")
            fig.add_trace(_trace(part, g, colour, dims, 4 if background else 6, opacity=0.45 if background else 0.85))
    if typed is not None:
        where = dict(zip(points.id, points[list("xyz"[:dims])].to_numpy()))
        targets = [("top k", f"p{r}", "#f59f00") for r, _ in typed.neighbours] + \
                  [("judged", f"p{r}", "#2e9e5b") for r, _, _ in typed.judged]
        for label, colour in (("top k", "#f59f00"), ("judged", "#2e9e5b")):
            ends = [where[i] for lab, i, _ in targets if lab == label and i in where]
            if not ends:
                continue
            line = [c for end in ends for c in (typed_xy, end, [None] * dims)]
            coords = dict(zip("xyz", zip(*line)))
            name = "your query's top k" if label == "top k" else "its judged passage"
            marker = dict(color=colour, size=11 if label == "top k" else 14, symbol="diamond" if label == "judged" else "circle",
                          line=dict(width=1.5, color="white"))
            trace = go.Scatter3d if dims == 3 else go.Scatter
            fig.add_trace(trace(**coords, mode="lines", line=dict(color=colour, width=1.5), hoverinfo="skip",
                                showlegend=False))
            fig.add_trace(trace(**dict(zip("xyz", zip(*ends))), mode="markers", name=name, marker=marker,
                                hoverinfo="skip"))
        star = dict(zip("xyz", ([c] for c in typed_xy)))
        fig.add_trace((go.Scatter3d if dims == 3 else go.Scatter)(
            **star, mode="markers", name="your query", hovertext=[typed.query], hoverinfo="text",
            marker=dict(color="#d6336c", size=18 if dims == 2 else 9, symbol="star" if dims == 2 else "diamond",
                        line=dict(width=1.5, color="white"))))
    axis = dict(showticklabels=False, title="", showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), legend=dict(orientation="h", y=-0.02,
                      yanchor="top", x=0, font=dict(size=11)), dragmode="pan" if dims == 2 else "orbit",
                      xaxis=axis, yaxis=axis, scene=dict(xaxis=axis, yaxis=axis, zaxis=axis))
    return fig
