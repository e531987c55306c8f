"""A sample of the picked corpus's pseudo-queries (core.data.pseudo) on the Training page: what a model
adapted to the corpus would train on, each beside the passage it was cut from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.corpus import DataSourceError
from core.data.pseudo import KINDS, PseudoQuery, pseudo_path, sample_pseudo
from core.retrieval.catalog import Catalog
from views.parts import url

WHAT = {
    "title": "the passage's title",
    "ict": "a sentence cut out of the passage (the rest is what it should find)",
    "crop": "a random span of the passage",
}


def show(catalog: Catalog, artifacts: Path) -> None:
    """The pseudo-queries' counts and a few of each kind, or the command that makes them."""
    st.subheader(f"Pseudo-queries of {url.literal(catalog.name)}")
    command = f"`python -m core pseudo --corpus {catalog.name}`"
    path = pseudo_path(catalog.name, artifacts)
    if not path.is_file():
        st.caption(f"Training without labels starts from queries cut from the text: {command} makes them.")
        return
    try:
        header, sample = sample_pseudo(path)
    except DataSourceError as e:
        st.warning(str(e), icon="🧩")
        return
    if header.get("corpus") != catalog.fingerprint:
        st.caption(f"These were cut from an earlier version of the corpus: {command} makes them again.")
        return
    made = header.get("counts", {})
    st.caption(
        " · ".join(f"{made.get(kind, 0):,} from {WHAT[kind]}" for kind in KINDS)
        + f" (seed {header.get('seed')}; all in `{path}`)"
    )
    rows = [
        {"kind": q.kind, "pseudo-query": q.query, "what it should find": _positive(q, catalog)}
        for q in sample
        if q.pid in catalog.row
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, placeholder="")


def _positive(q: PseudoQuery, catalog: Catalog) -> str:
    """The passage a pseudo-query was cut from, or for ICT with its sentence removed, the rest of it."""
    return q.rest if q.rest is not None else catalog.display_text(catalog.row[q.pid])
