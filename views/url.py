"""Widget state in the URL, so a shared link reopens the same view, with notices for a link's values
that cannot be shown here; and the presentation switch, for a projector."""

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


def _choices_text(allowed) -> str:
    if isinstance(allowed, range):
        return f"from {allowed.start} to {allowed.stop - 1}"
    return "one of " + ", ".join(shown(c) for c in allowed)


def url_state(defaults: dict, choices: dict | None = None) -> list[str]:
    """Seed widget keys when a page opens: from the URL (a shared link reopens the same view), else
    from the values last used on any page (the query follows you from Search to Compare), else the
    default. Values that do not parse, or are not among `choices`, fall back to the default; what a
    link asked for and did not get is returned as sentences to show."""
    choices, kept, notices = choices or {}, st.session_state.setdefault("kept", {}), []
    st.session_state.setdefault("url_defaults", {}).update(defaults)
    for key, default in defaults.items():
        if key in st.session_state:
            continue
        raw, value = st.query_params.get(key), kept.get(key, default)
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
    return notices


def save_url(keys: list[str]) -> None:
    """Remember the current widget values and write them to the URL (empty ones and defaults are left
    out), only when they changed: a page opened as it is writes nothing, so the browser's Back button
    goes back a page in one press, not to the same page without its parameters."""
    st.session_state.kept.update({k: st.session_state[k] for k in keys})
    defaults = st.session_state.get("url_defaults", {})
    wanted = {
        k: str(st.session_state[k])
        for k in keys
        if st.session_state[k] not in ("", None) and st.session_state[k] != defaults.get(k)
    }
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def set_query(text: str) -> None:
    """Button callback: put `text` in the query box."""
    st.session_state.q = text


# --- presentation mode ---------------------------------------------------------------------------

PRESENT_CSS = """<style>
html { font-size: 18px; }
.card .score { display: none !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem; }
</style>"""


def presentation_switch() -> None:
    """The sidebar's presentation switch (larger type, fewer secondary numbers), for a projector."""
    st.session_state.setdefault("present", st.query_params.get("present") in ("1", "true"))
    st.sidebar.toggle(
        "Presentation mode",
        key="present",
        help="Larger type and fewer secondary numbers, for a projector. A link with ?present=1 "
        "opens in this mode.",
    )
    if presenting():
        st.html(PRESENT_CSS)


def presenting() -> bool:
    return bool(st.session_state.get("present"))
