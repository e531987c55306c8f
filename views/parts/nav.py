"""The pages and the bar at the top that leads to them: each link carries the values the page it
leads to reads (the query, k, the model, the pair) as they were last used on any page, so the class's
state follows it, and the browser's Back returns to the page before."""

from __future__ import annotations

import streamlit as st

from core.common.artifacts import CheckpointError, artifacts_dir, find_checkpoints
from views.parts.url import carried

# (script, title, icon, what it is for, the shared URL values it reads)
PAGES = [
    ("views/pages/home.py", "Home", "🏠", "what this is", ()),
    ("views/pages/search.py", "Search", "🔎", "one model, one query", ("q", "k", "model")),
    ("views/pages/compare.py", "Compare", "⚖️", "two models side by side", ("q", "k", "a", "b")),
    ("views/pages/embeddings.py", "Embeddings", "🗺️", "the space the models learned", ("q", "k", "a", "b")),
    ("views/pages/confused.py", "Confused", "🤔", "what each model gets wrong", ("a", "b")),
    ("views/pages/training.py", "Training", "🏋️", "curves, and a run of your own", ()),
]
CORPORA_PAGE = "views/pages/corpora.py"  # adding a corpus: opened from the corpus picker and Home
CHECKPOINTS_ONLY = {"views/pages/embeddings.py"}  # its pair is two checkpoints, never BM25 or a hybrid
BAR_CSS = """<style>
.st-key-topbar { position: fixed; top: .4rem; left: 1rem; z-index: 999991; width: auto; }
.st-key-topbar [data-testid="stHorizontalBlock"] { gap: .2rem; }
.st-key-topbar [data-testid="stPageLink"] a { padding: .15rem .5rem; }
@media (max-width: 1200px) {  /* a projector's 1024 px: the words alone, clear of the switch */
  .st-key-topbar [data-testid="stPageLink"] a > span:has([data-testid="stIconEmoji"]) { display: none; }
}
</style>"""


def _checkpoints() -> set[str]:
    try:
        return set(find_checkpoints(artifacts_dir()))
    except CheckpointError:  # the page itself says what is wrong
        return set()


def params(script: str, keys) -> dict[str, str]:
    """What a link to `script` carries: the values last used for `keys`, less a model the page cannot
    show (the Embeddings pair: checkpoints only)."""
    found = carried(keys)
    if script in CHECKPOINTS_ONLY:
        names = _checkpoints()
        found = {k: v for k, v in found.items() if k not in ("a", "b") or v in names}
    return found


def navigation():
    """The app's pages, without Streamlit's own menu (its links carry no values): `top_bar` draws it.
    The Corpora page is not in the bar: the corpus picker and Home lead to it."""
    pages = [
        st.Page(script, title=title, icon=icon, default=i == 0)
        for i, (script, title, icon, *_) in enumerate(PAGES)
    ]
    return st.navigation([*pages, st.Page(CORPORA_PAGE, title="Corpora", icon="📚")], position="hidden")


def top_bar(slot) -> None:
    """The links to every page, in `slot` (a placeholder at the top, drawn again when the values
    change), each carrying its page's values."""
    with slot.container():
        st.html(BAR_CSS)
        with st.container(horizontal=True):
            for script, title, icon, _, keys in PAGES:
                st.page_link(script, label=title, icon=icon, query_params=params(script, keys))


def page_buttons() -> None:
    """Home's way on: a button per page, with what it is for."""
    for col, (script, title, icon, what, keys) in zip(st.columns(len(PAGES) - 1), PAGES[1:]):
        col.page_link(script, label=title, icon=icon, width="stretch", query_params=params(script, keys))
        col.caption(what)
