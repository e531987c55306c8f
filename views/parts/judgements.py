"""Whether the picked corpus has judgements (queries with the passages that answer them), which
metrics, Confused and the example queries need; and the notice that says so, with how to give them."""

from __future__ import annotations

import streamlit as st

from core.retrieval.catalog import Catalog
from views.parts.url import shown

HOW = (
    "Judgements come with a test collection in the BEIR layout: `corpus.jsonl` (the passages), "
    "`queries.jsonl` (the queries) and `qrels/test.tsv` (query-id, corpus-id, score; score > 0 is "
    "relevant). Add that folder, or a zip of it, on the **Corpora** page, or with "
    "`python -m core corpus add NAME FOLDER`."
)


def judged(cat: Catalog) -> bool:
    """Whether the corpus has a query with a judged passage."""
    return bool(cat.query_ids)


def needs_judgements(cat: Catalog, what: str) -> bool:
    """Say that `what` needs judgements, and how to give them, when the corpus has none (True);
    otherwise nothing (False)."""
    if judged(cat):
        return False
    st.info(
        f"**{what} needs judgements**, and the corpus {shown(cat.name)} has none: it holds passages only, "
        f"so no query has a passage marked as its answer. Search, Compare and Embeddings work on it. {HOW}",
        icon="⚖️",
    )
    return True
