"""What the pages share: the catalog, rankers, maps and their derived tables, each loaded once per
process and keyed by what it was made from (a checkpoint file's fingerprint, a map's key), never by
an object's id, which CPython reuses once the object is gone."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager

import streamlit as st

from core.artifacts import PREFERRED, CheckpointError, artifacts_dir, find_checkpoints
from core.cache import KeyedCache
from core.catalog import Catalog
from core.compare import Example, example_queries
from core.config import ProjectionConfig
from core.confused import Outcome, outcomes
from core.data import SOURCE_ENV, DataSourceError, load_corpus, resolve_source, split_queries
from core.hybrid import PREFIX as HYBRID
from core.hybrid import fit_on_corpus, weight_for
from core.index import SearchIndexError
from core.projection import EmbeddingMap, ensure_projections
from core.regions import region_labels
from core.search import Engine, Hybrid, Lexical, Ranked
from views.points import map_points

SETUP_HELP = (
    f"**What to do:** set `{SOURCE_ENV}` to a local MS MARCO v1.1 `.jsonl`/`.parquet` file or folder "
    f"(e.g. `{SOURCE_ENV}=../shared/msmarco`), or leave it unset to download from the Hugging Face hub; "
    "then run `python -m core build` to train the checkpoints into `artifacts/` (or point `ARTIFACTS_DIR` "
    "at a folder holding `random/model.pt` and `hard/model.pt`), and reload this page."
)


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


@st.cache_resource
def _maps() -> KeyedCache:
    return KeyedCache()


@st.cache_resource(show_spinner="Fitting the fusion weight of the hybrid on training queries…")
def _hybrid(key: tuple, _engine: Engine, _lexical: Lexical) -> Hybrid:
    """`hybrid:NAME`: the build's fitted weight for this checkpoint file, else one fitted now."""
    weight = weight_for(artifacts_dir(), _engine.fingerprint)
    if weight is None:
        corpus = _engine.catalog.corpus
        train_qids = split_queries(corpus, _engine.val_fraction)[0]
        weight = fit_on_corpus(
            _engine.encoder, corpus, train_qids, passage_vectors=_engine.vectors, bm25=_lexical.bm25
        )[0]
    return Hybrid(_engine, _lexical, weight)


@st.cache_resource(show_spinner="Fitting BM25 on the corpus…")
def _lexical(source: str, _catalog: Catalog) -> Lexical:
    return Lexical(_catalog)


@st.cache_resource(show_spinner="Finding validation queries the two models disagree on…")
def _examples(key: tuple, _first: Engine, _second: Engine) -> list[Example]:
    return example_queries(_first, _second)


@st.cache_resource(show_spinner="Ranking every validation query with both checkpoints…")
def _outcomes(key: tuple, _first: Engine, _second: Engine) -> list[Outcome]:
    return outcomes(_first, _second)


@st.cache_resource(show_spinner=False)
def _points(key: tuple, _emap: EmbeddingMap, _catalog: Catalog, _confused: dict):
    return map_points(_emap.projection, _catalog, _confused)


@st.cache_resource(show_spinner="Naming the regions of the map…")
def _regions(key: tuple, _emap: EmbeddingMap, _catalog: Catalog):
    return region_labels(_emap.projection, _catalog)


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
            engine = Engine(
                name,
                path,
                cat,
                chroma_path=artifacts / "chroma",
                progress=lambda done, text: bar.progress(done, text=text),
            )
            bar.empty()
            if engine.notice:  # its index was unreadable and has been rebuilt
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


def rankers() -> Mapping[str, Ranked]:
    """Everything the Search, Compare and Confused pages can pick: every checkpoint, then `bm25`, then
    `hybrid:NAME` for each checkpoint (opened, and its weight found or fitted, when first picked)."""
    checkpoints = engines()

    def open_ranker(name: str, _) -> Ranked:
        if name == Lexical.name:
            return lexical()
        if name.startswith(HYBRID):
            engine = checkpoints[name[len(HYBRID) :]]
            with friendly_errors():
                return _hybrid((resolve_source(), engine.name, engine.fingerprint), engine, lexical())
        return checkpoints[name]

    names = [*checkpoints, Lexical.name, *(HYBRID + n for n in checkpoints)]
    return _Shelf(dict.fromkeys(names), open_ranker)


def examples(first: Ranked, second: Ranked) -> list[Example]:
    return _examples(
        (resolve_source(), first.name, _version(first), second.name, _version(second)), first, second
    )


def confusions(first: Ranked, second: Ranked) -> list[Outcome]:
    """Every validation query through both (core.confused), once per process and pair of versions."""
    return _outcomes(
        (resolve_source(), first.name, _version(first), second.name, _version(second)), first, second
    )


def _version(ranker: Ranked) -> str:
    """What a cache of a ranker's results is keyed by: its checkpoint file's fingerprint (an engine's
    id could be reused by a rebuilt one), and the fusion weight for a hybrid."""
    if isinstance(ranker, Hybrid):
        return f"{ranker.engine.fingerprint}:{ranker.weight}"
    return getattr(ranker, "fingerprint", ranker.name)


def embedding_maps(chosen: list[Engine], dims: int) -> dict[str, EmbeddingMap]:
    """The chosen checkpoints' UMAP maps, aligned with each other (core.projection), loaded or, when
    missing or stale, fitted under a progress bar; then kept, with their points' vectors, for every
    session of this process."""
    shared, artifacts = _maps(), artifacts_dir()
    key = (tuple((e.name, e.fingerprint) for e in chosen), dims, str(artifacts))

    def make() -> dict[str, EmbeddingMap]:
        bar = st.progress(0.0, text=f"Opening the {dims}-D maps…")
        maps, _ = ensure_projections(
            artifacts,
            list(chosen),
            chosen[0].catalog.corpus,
            chosen[0].val_fraction,
            ProjectionConfig(),
            dims,
            progress=lambda done, text: bar.progress(done, text),
        )
        bar.empty()
        return {e.name: EmbeddingMap.for_engine(p, e) for e, p in zip(chosen, maps)}

    return shared.get(key, make)


def points(engine: Engine, emap: EmbeddingMap, confused: dict[str, bool]):
    """The map's points table (views.points.map_points), made once per map, outcomes and process."""
    key = (engine.name, engine.fingerprint, emap.projection.key, hash(frozenset(confused.items())))
    return _points(key, emap, engine.catalog, confused)


def regions(engine: Engine, emap: EmbeddingMap) -> list[tuple[tuple[float, ...], str]]:
    """Labels for the map's regions (core.regions.region_labels), made once per map and process."""
    return _regions((engine.name, engine.fingerprint, emap.projection.key), emap, engine.catalog)
