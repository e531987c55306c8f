"""Widget state in the URL, so a shared link reopens the same view and the browser's Back and Forward
buttons step through the views, with notices for a link's values that cannot be shown here; and the
presentation switch, for a projector (kept in the URL on every page)."""

from __future__ import annotations

import re

import streamlit as st

from core.data.corpora import DEFAULT

SHOWN_CHARS = 60  # a value from a link is shown cut to this many characters


def shown(value) -> str:
    """A value from outside (a link, a typed query) as markdown that shows it as it is: inline code,
    never a link, an image or formatting; on one line, cut to SHOWN_CHARS characters."""
    text = " ".join(str(value).split())
    text = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else "“”"


MARKDOWN = re.compile(r"([\\`*_{}\[\]()!|<>~$:&])")  # links, images, HTML, LaTeX, colours, emphasis
LEADING = re.compile(r"^(\d*)([-+#.])")  # a list item or a heading, at the start only


def literal(value) -> str:
    """Text from data (a passage, a query, a model or run name) for a place that reads markdown (a
    label, a heading, a caption): every markdown, HTML, LaTeX and colour sign escaped, so it shows as
    it is, on one line."""
    return LEADING.sub(r"\1\\\2", MARKDOWN.sub(r"\\\1", " ".join(str(value).split())))


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


def arrive(page: str) -> None:
    """Record the page this run shows, and whether another page ran before it (a page switch: the
    page's widgets are new, so their values are seeded again from the URL)."""
    st.session_state.switched = st.session_state.get("page") != page
    st.session_state.page = page


def _navigated(keys) -> bool:
    """Whether the browser changed this page's URL since the page last wrote it, with none of the
    page's widgets changed since: Back or Forward (the page then shows what the URL says, so Back
    undoes one step). A changed widget means the URL is only behind a write still on its way (a pick
    made while the query was being typed), never a move through history."""
    written = st.session_state.get("url_written")
    if written is None or written[0] != st.session_state.get("page") or written[1] == _params():
        return False
    return all(st.session_state.get(k) == v for k, v in written[2].items() if k in keys)


def _parsed(raw: str, default):
    """A URL value as the type of its default, or None where it does not parse."""
    try:
        return raw.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(raw)
    except ValueError:
        return None


def url_state(defaults: dict, choices: dict | None = None) -> list[str]:
    """Seed widget keys when a page opens (from another page, or anew) or the browser moved through
    its history: from the URL (a shared link reopens the same view; Back shows the view before), else
    from the values last used on any page (the query follows you from Search to Compare), else the
    default. Values that do not parse, or are not among `choices`, fall back to the default; what a
    link asked for and did not get is returned as sentences to show."""
    choices, kept, notices = choices or {}, st.session_state.setdefault("kept", {}), []
    st.session_state.setdefault("url_defaults", {}).update(defaults)
    navigated = _navigated(defaults)
    fresh = navigated or st.session_state.get("switched", True)
    for key, default in defaults.items():
        if key in st.session_state and not fresh:
            continue
        raw, value = st.query_params.get(key), default if navigated else kept.get(key, default)
        if raw is not None:
            value = _parsed(raw, default)
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


def every_page(params: dict) -> dict:
    """`params` with what belongs to every page: presentation mode, and the picked corpus when it is
    not the default (`views.parts.corpus_picker`)."""
    corpus = st.session_state.get(CORPUS) or st.query_params.get(CORPUS)
    extra = {PRESENT: "1"} if presenting() else {}
    return {**params, **extra, **({CORPUS: corpus} if corpus and corpus != DEFAULT else {})}


def save_url(keys: list[str]) -> None:
    """Remember the current widget values and write them to the URL (empty ones and defaults are left
    out), only when the URL says something else: a page opened as it is, or by a link that carries its
    values, writes nothing, so the browser's Back button goes back a page in one press."""
    values = {k: st.session_state[k] for k in keys}
    st.session_state.kept.update(values)
    defaults = st.session_state.get("url_defaults", {})
    wanted = {k: str(v) for k, v in values.items() if v not in ("", None) and v != defaults.get(k)}
    said = {k: v for k, v in _params().items() if k not in defaults or _parsed(v, defaults[k]) != defaults[k]}
    if said != wanted:
        st.query_params.from_dict(every_page(wanted))
    st.session_state.url_written = (st.session_state.get("page"), _params(), values)


def carried(keys) -> dict[str, str]:
    """The values last used on any page for `keys`, as URL parameters (empty ones left out), with
    presentation mode: what a link to another page carries, so the class's query, k and models
    follow it there."""
    kept = {**st.session_state.get("kept", {}), **_params()}  # the URL: a page not yet run says its values
    params = {k: str(kept[k]) for k in keys if kept.get(k) not in ("", None)}
    return every_page(params)


def set_query(text: str) -> None:
    """Button callback: put `text` in the query box."""
    st.session_state.q = text


# --- presentation mode ---------------------------------------------------------------------------

PRESENT_CSS = """<style>
html { font-size: 20px; }
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
