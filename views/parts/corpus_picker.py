"""The corpus every page works on: a picker in the top bar, kept in the URL (`?corpus=NAME`) on every
page like presentation mode (the demo corpus, `msmarco`, is the default and stays out of the URL), and
its catalog, loaded once per process and corpus."""

from __future__ import annotations

import streamlit as st

from core.common.artifacts import artifacts_dir
from core.data.corpora import (
    CORPUS_FILE,
    DEFAULT,
    corpus_dir,
    load_corpus,
    names,
    open_corpus,
    resolve_source,
)
from core.retrieval.catalog import Catalog
from core.retrieval.spelling import Speller
from views.parts.nav import CORPORA_PAGE
from views.parts.url import CORPUS, shown

ADD = "+add"  # the picker's last entry, never a corpus name (core.data.corpora.name_problem)

PICKER_CSS = """<style>
.st-key-corpus { position: fixed; top: .3rem; right: 13rem; z-index: 999991; width: 12rem; }
.st-key-corpus label { display: none; }
</style>"""


def current() -> str:
    """The picked corpus's name (the default before the picker has run)."""
    return st.session_state.get(CORPUS) or DEFAULT


@st.cache_resource(show_spinner="Loading the corpus…")
def open_catalog(key: tuple) -> Catalog:
    """The catalog of corpus `key` (`corpus_key`): the demo corpus from its source, or an added one,
    whose derived files are kept in its folder."""
    name, source = key[:2]
    if name == DEFAULT:
        return Catalog(load_corpus(source))
    return Catalog(open_corpus(name), name, corpus_dir(name))


@st.cache_resource(show_spinner="Gathering the corpus's words for spelling suggestions…")
def _speller(key: tuple) -> Speller:
    return Speller(open_catalog(key).texts)


def speller() -> Speller:
    """The picked corpus's words, for mending a misspelt query, once per process and corpus."""
    return _speller(corpus_key())


def corpus_key() -> tuple:
    """What the picked corpus's caches are keyed by: (name, its source), an added corpus's source
    being its stored file's modification time (one removed and added again is read anew)."""
    name = current()
    if name == DEFAULT:
        return name, resolve_source()
    path = corpus_dir(name) / CORPUS_FILE
    return name, str(path.stat().st_mtime_ns if path.is_file() else 0), str(artifacts_dir())


def choose(name: str) -> None:
    """Pick `name` on the next run (the picker's own key cannot change once it is drawn)."""
    st.session_state.corpus_next = name


def _seed(known: list[str]) -> str | None:
    """Set the picker's value before it is drawn: a corpus just added, else the URL's when the session
    opens; returns a link's corpus that is not on this machine, if any."""
    wanted = st.session_state.pop("corpus_next", None)
    if wanted is None and CORPUS not in st.session_state:
        wanted = st.query_params.get(CORPUS) or DEFAULT
    if wanted is None:
        if st.session_state[CORPUS] not in known:  # removed meanwhile
            st.session_state[CORPUS] = DEFAULT
        return None
    st.session_state[CORPUS] = wanted if wanted in known else DEFAULT
    return None if wanted in known else wanted


def _picked() -> None:
    """Picker callback: *Add a corpus…* keeps the corpus shown and opens the Corpora page."""
    if st.session_state[CORPUS] == ADD:
        st.session_state[CORPUS] = st.session_state.get("corpus_shown", DEFAULT)
        st.session_state.corpus_adding = True


def corpus_picker() -> None:
    """The picker in the top bar, its last entry the way to the Corpora page; a corpus other than
    the default is written to the URL."""
    known = names()
    unknown = _seed(known)
    st.html(PICKER_CSS)
    st.selectbox(
        "Corpus",
        [*known, ADD],
        key=CORPUS,
        format_func=lambda name: "➕ Add a corpus…" if name == ADD else f"Corpus · {name}",
        on_change=_picked,
        help="The corpus every page searches, maps and measures: the MS MARCO demo corpus, or one added "
        "on the Corpora page. A link with ?corpus=NAME opens it.",
    )
    st.session_state.corpus_shown = current()
    if st.session_state.pop("corpus_adding", False):
        st.switch_page(CORPORA_PAGE)
    if unknown:
        st.warning(
            f"This link asks for the corpus {shown(unknown)}, which is not on this machine, so "
            f"**{DEFAULT}** is shown instead. Add it on the Corpora page.",
            icon="🔗",
        )
    name = current()
    if name != DEFAULT and st.query_params.get(CORPUS) != name:
        st.query_params[CORPUS] = name
    elif name == DEFAULT and CORPUS in st.query_params:
        del st.query_params[CORPUS]
