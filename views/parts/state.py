"""What the pages share: the catalog, rankers, maps and their derived tables, each loaded once per
process and keyed by what it was made from (the picked corpus, a checkpoint file's fingerprint, a
map's key), never by an object's id, which CPython reuses once the object is gone; so switching back
to a corpus opened before is instant."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from core.analysis.compare import Example, example_queries
from core.analysis.confused import Outcome, outcomes
from core.analysis.projection import EmbeddingMap, ensure_projections
from core.analysis.regions import placed
from core.analysis.regions import regions as found_regions
from core.common.artifacts import CheckpointError, artifacts_dir, find_checkpoints
from core.common.cache import KeyedCache
from core.common.config import ProjectionConfig
from core.common.types import Progress
from core.data.corpora import SOURCE_ENV
from core.data.corpus import DataSourceError
from core.model.encoder import Checkpoint
from core.retrieval.catalog import Catalog
from core.retrieval.dense import DenseRanker
from core.retrieval.hybrid import PREFIX as HYBRID
from core.retrieval.hybrid import Hybrid
from core.retrieval.lexical import Lexical
from core.retrieval.ranker import Ranker
from core.retrieval.registry import RankerContext, fused, make, names
from core.retrieval.vectors import SearchIndexError
from views.parts.activity import FOREGROUND
from views.parts.corpus_picker import corpus_key, open_catalog
from views.parts.opening import Opening, opening
from views.parts.points import map_points

SETUP_HELP = (
    f"**What to do:** leave `{SOURCE_ENV}` unset to use the demo corpus that ships in `artifacts/` "
    "(restore it with `git checkout artifacts/demo_corpus.zip`), or set it to MS MARCO v1.1 files or 'hub'; "
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


@st.cache_resource
def _maps() -> KeyedCache:
    return KeyedCache()


@st.cache_resource(show_spinner="Fitting the fusion weight of the hybrid on tuning queries…")
def _hybrid(key: tuple, _engine: DenseRanker, _lexical: Lexical) -> Hybrid:
    """`hybrid:NAME`: the build's fitted weight for this checkpoint file, else one fitted now."""
    return fused(_engine, _lexical, artifacts_dir(), fit_missing=True)


@st.cache_resource(show_spinner="Fitting the ranker on the corpus…")
def _registered(key: tuple, _catalog: Catalog) -> Ranker:
    """A ranker of the registry's own (core.retrieval.registry.REGISTRY: `bm25`, …), fitted on the
    corpus; key: (corpus key, name, artifacts folder)."""
    name, artifacts = key[1], Path(key[2])
    return make(name, RankerContext(artifacts)).fit(_catalog)


@st.cache_resource(show_spinner="Finding validation queries the two models disagree on…")
def _examples(key: tuple, _first: Ranker, _second: Ranker) -> list[Example]:
    return example_queries(_first, _second)


@st.cache_resource(show_spinner="Ranking every validation query with both checkpoints…")
def _outcomes(key: tuple, _first: Ranker, _second: Ranker) -> list[Outcome]:
    return outcomes(_first, _second)


@st.cache_resource(show_spinner=False)
def _points(key: tuple, _emap: EmbeddingMap, _catalog: Catalog, _confused: dict):
    return map_points(_emap.projection, _catalog, _confused)


@st.cache_resource(show_spinner="Naming the regions of the map…")
def _regions(key: tuple, _emap: EmbeddingMap, _catalog: Catalog):
    return found_regions(_emap.projection, _catalog)


def catalog() -> Catalog:
    """The picked corpus's catalog (views.parts.corpus_picker)."""
    with friendly_errors():
        return open_catalog(corpus_key())


class _Shelf(Mapping):
    """Checkpoints by name; an engine is opened (its index built under a progress bar) when first
    asked for, so a folder of training runs costs nothing until one is picked."""

    def __init__(self, paths: dict, open_engine):
        self.paths, self.open_engine = paths, open_engine

    def __getitem__(self, name: str) -> DenseRanker:
        return self.open_engine(name, self.paths[name])

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def checkpoints() -> Mapping[str, DenseRanker]:
    """Every checkpoint under the artifacts folder (training runs included), each opened when a page
    first asks for it: its passages encoded (or read back from its index) on a worker thread, under a
    progress bar, so exact search answers at once, while its Chroma index is built in the background.
    The checkpoint Search opens with starts at once, whichever page asks first (Home, in class)."""
    cat, source = catalog(), corpus_key()
    with friendly_errors():
        artifacts = artifacts_dir()
        paths = find_checkpoints(artifacts)

    def start(name: str, path) -> Opening:
        def opened(progress: Progress) -> DenseRanker:
            context = RankerContext(
                artifacts,
                progress=progress,
                checkpoints={name: Checkpoint(name, path)},
                chroma=artifacts / "chroma",
                background=True,
                foreground=FOREGROUND,
            )
            return make(name, context).fit(cat)

        key = (name, str(path), path.stat().st_mtime_ns, source, str(artifacts / "chroma"))
        return opening(key, opened)

    def open_engine(name, path) -> DenseRanker:
        with friendly_errors():
            return start(name, path).wait()

    with friendly_errors():
        first = search_default(list(paths))
        start(first, paths[first])  # not waited for: under way while the page renders
    return _Shelf(paths, open_engine)


def serving():
    """A page being served, as foreground work (`activity.FOREGROUND`): background index builds wait
    until no page has been served for a moment, so they never slow one down."""
    return FOREGROUND.working()


def search_default(names: list[str]) -> str:
    """The ranker the Search page opens with: hard, else the first."""
    return "hard" if "hard" in names else names[0]


def registered(name: str) -> Ranker:
    """A ranker of the registry's own by name, made and fitted once per process."""
    with friendly_errors():
        return _registered((corpus_key(), name, str(artifacts_dir())), catalog())


def lexical() -> Lexical:
    return registered(Lexical.name)


def rankers() -> Mapping[str, Ranker]:
    """Everything the Search, Compare and Confused pages can pick, named by the registry
    (core.retrieval.registry.names): every checkpoint, then the registry's (`bm25`, …), then
    `hybrid:NAME` for each checkpoint (opened, and its weight found or fitted, when first picked)."""
    dense = checkpoints()

    def open_ranker(name: str, _) -> Ranker:
        if name in dense:
            return dense[name]
        if not name.startswith(HYBRID):
            return registered(name)
        engine = dense[name.removeprefix(HYBRID)]
        with friendly_errors():
            return _hybrid((corpus_key(), engine.name, engine.fingerprint), engine, lexical())

    return _Shelf(dict.fromkeys(names(dense, app=True)), open_ranker)


def examples(first: Ranker, second: Ranker) -> list[Example]:
    return _examples(
        (corpus_key(), first.name, _version(first), second.name, _version(second)), first, second
    )


def confusions(first: Ranker, second: Ranker) -> list[Outcome]:
    """Every validation query through both (core.analysis.confused), once per process and pair of versions."""
    return _outcomes(
        (corpus_key(), first.name, _version(first), second.name, _version(second)), first, second
    )


def _version(ranker: Ranker) -> str:
    """What a cache of a ranker's results is keyed by (`Ranker.version`: a checkpoint file's fingerprint)."""
    return ranker.version


def embedding_maps(chosen: list[DenseRanker]) -> dict[str, EmbeddingMap]:
    """The chosen checkpoints' UMAP maps, aligned with each other (core.analysis.projection), loaded or, when
    missing or stale, fitted under a progress bar; then kept, with their points' vectors, for every
    session of this process. An added corpus's maps are kept in its folder."""
    shared, artifacts = _maps(), artifacts_dir()
    folder = chosen[0].catalog.folder or artifacts
    key = (tuple((e.name, e.fingerprint) for e in chosen), str(artifacts), corpus_key())

    def make() -> dict[str, EmbeddingMap]:
        bar = st.progress(0.0, text="Opening the maps…")
        maps, _ = ensure_projections(
            folder,
            list(chosen),
            chosen[0].catalog.corpus,
            chosen[0].val_fraction,
            ProjectionConfig(),
            progress=lambda done, text: bar.progress(done, text),
        )
        bar.empty()
        return {e.name: EmbeddingMap.for_engine(p, e) for e, p in zip(chosen, maps)}

    return shared.get(key, make)


def points(engine: DenseRanker, emap: EmbeddingMap, confused: dict[str, bool]):
    """The map's points table (views.parts.points.map_points), made once per map, outcomes and process."""
    key = (
        corpus_key(),
        engine.name,
        engine.fingerprint,
        emap.projection.key,
        hash(frozenset(confused.items())),
    )
    return _points(key, emap, engine.catalog, confused)


def regions(engine: DenseRanker, emap: EmbeddingMap, on: EmbeddingMap) -> list[tuple[tuple[float, ...], str]]:
    """The regions of `engine`'s map `emap` (core.analysis.regions), found once per map and process,
    placed on `on` (`emap` or the map aligned with it): one label per region on both maps."""
    key = (corpus_key(), engine.name, engine.fingerprint, emap.projection.key)
    return placed(_regions(key, emap, engine.catalog), on.projection)
