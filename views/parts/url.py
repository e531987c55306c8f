"""Widget state in the URL, so a shared link reopens the same view and the browser's Back and Forward
buttons step through the views, with notices for a link's values that cannot be shown here; and the
presentation switch, for a projector (kept in the URL on every page)."""

from __future__ import annotations

import re

import streamlit as st

SHOWN_CHARS = 60  # a value from a link is shown cut to this many characters


def shown(value) -> str:
    """A value from outside (a link, a typed query) as markdown that shows it as it is: inline code,
    never a link, an image or formatting; on one line, cut to SHOWN_CHARS characters."""
    text = " ".join(str(value).split())
    text = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else "“”"


PRESENT = "present"  # the URL parameter of presentation mode, on every page
CORPUS = "corpus"  # the URL parameter of the picked corpus, on every page (views.parts.corpus_picker)
EVERY_PAGE = (PRESENT, CORPUS)


def _choices_text(allowed) -> str:
    if isinstance(allowed, range):
        return f"from {allowed.start} to {allowed.stop - 1}"
    return "one of " + ", ".join(shown(c) for c in allowed)


def _params() -> dict:
    """The URL's parameters, less those that belong to every page (presentation mode, the corpus)."""
    return {k: v for k, v in st.query_params.to_dict().items() if k not in EVERY_PAGE}


def _navigated() -> bool:
    """Whether the browser changed this page's URL since the page last wrote it: Back or Forward (the
    page then shows what the URL says, so Back undoes one step)."""
    written = st.session_state.get("url_written")
    return written is not None and written[0] == st.session_state.get("page") and written[1] != _params()


def url_state(defaults: dict, choices: dict | None = None) -> list[str]:
    """Seed widget keys when a page opens or the browser moved through its history: from the URL (a
    shared link reopens the same view; Back shows the view before), else from the values last used on
    any page (the query follows you from Search to Compare), else the default. Values that do not
    parse, or are not among `choices`, fall back to the default; what a link asked for and did not get
    is returned as sentences to show."""
    choices, kept, notices = choices or {}, st.session_state.setdefault("kept", {}), []
    st.session_state.setdefault("url_defaults", {}).update(defaults)
    navigated = _navigated()
    for key, default in defaults.items():
        if key in st.session_state and not navigated:
            continue
        raw, value = st.query_params.get(key), default if navigated else kept.get(key, default)
        if raw is not None:
            try:
                flag = raw.lower() in ("1", "true", "yes")
                value = flag if isinstance(default, bool) else type(default)(raw)
            except ValueError:
                value = None
        bad = value is None or (key in choices and value not in choices[key])
        if bad and raw is not None:
            allowed = f", which must be {_choices_text(choices[key])}" if key in choices else ""
            notices.append(
                f"This link asks for **{key}** = {shown(raw)}{allowed}: not available here, so "
                f"**{default}** is shown instead."
            )
        st.session_state[key] = default if bad else value
    if navigated:
        st.session_state.url_moves = st.session_state.get("url_moves", 0) + 1
    return notices


def url_moves() -> int:
    """How many times the browser moved through this session's history: part of the key of a widget
    that keeps a choice of its own (a table's selected cell), so Back resets it to what the URL says."""
    return st.session_state.get("url_moves", 0)


def _write(wanted: dict) -> None:
    """Write `wanted` (and presentation mode, the corpus) to the URL when it differs, and remember what
    was written."""
    if presenting():
        wanted = {**wanted, PRESENT: "1"}
    if CORPUS in st.query_params:
        wanted = {**wanted, CORPUS: st.query_params[CORPUS]}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    st.session_state.url_written = (st.session_state.get("page"), _params())


def save_url(keys: list[str]) -> None:
    """Remember the current widget values and write them to the URL (empty ones and defaults are left
    out), only when they changed: a page opened as it is writes nothing, so the browser's Back button
    goes back a page in one press, not to the same page without its parameters."""
    st.session_state.kept.update({k: st.session_state[k] for k in keys})
    defaults = st.session_state.get("url_defaults", {})
    _write(
        {
            k: str(st.session_state[k])
            for k in keys
            if st.session_state[k] not in ("", None) and st.session_state[k] != defaults.get(k)
        }
    )


def set_query(text: str) -> None:
    """Button callback: put `text` in the query box."""
    st.session_state.q = text


# --- presentation mode ---------------------------------------------------------------------------

PRESENT_CSS = """<style>
html { font-size: 20px; }
.card .score { display: none !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem; }
.stElementContainer:has(> [data-testid="stDataFrame"]) { width: 80% !important; zoom: 1.25; }
</style>"""
FRAME_CSS = """<style>
.st-key-present { position: fixed; top: .55rem; right: 3.2rem; z-index: 999991; width: auto; }
[data-testid="stMetricLabel"] * { white-space: normal !important; overflow: visible !important; }
code { font-size: max(.9em, 14px) !important; }
@media (max-width: 1200px) {  /* a projector's 1024 px: room for two maps of 400 px or more */
  [data-testid="stMainBlockContainer"] { padding-left: 2rem; padding-right: 2rem; }
}
</style>"""


def presentation_switch() -> None:
    """The presentation switch (larger type in every text, chart and table, fewer secondary numbers),
    for a projector: in the page's top bar, never in the sidebar, and kept in the URL on every page."""
    if PRESENT not in st.session_state:
        st.session_state[PRESENT] = st.query_params.get(PRESENT) in ("1", "true")
    st.html(FRAME_CSS)
    st.toggle(
        "Presentation",
        key=PRESENT,
        help="Presentation mode: larger type, fewer secondary numbers, for a projector. A link with "
        "?present=1 opens in this mode.",
    )
    if presenting():
        st.html(PRESENT_CSS)
    if presenting() and st.query_params.get(PRESENT) != "1":
        st.query_params[PRESENT] = "1"
    elif not presenting() and PRESENT in st.query_params:
        del st.query_params[PRESENT]


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT))
