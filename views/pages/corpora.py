"""The corpora this app can search, the picked one's size, and the panel that adds one from a file."""

import streamlit as st

from core.data.corpora import DEFAULT, names
from views.parts import components, state
from views.parts.add_corpus import add_corpus_panel
from views.parts.judgements import HOW, judged
from views.parts.url import shown

components.style()
st.title("📚 Corpora")
added = st.session_state.pop("corpus_added", None)
if added:
    name, passages, queries, seconds = added
    st.success(
        f"**Added {shown(name)}**: {passages:,} passages and {queries:,} queries, encoded by both models in "
        f"{seconds:.0f} s. It is picked now, on every page.",
        icon="✅",
    )
    st.page_link("views/pages/search.py", label=f"Search {name}", icon="🔎")
    state.checkpoints()  # the Search model starts opening now, in the background
cat = state.catalog()
st.markdown(
    f"Every page works on the corpus picked in the top bar, now {shown(cat.name)}: "
    f"{len(cat):,} passages, {len(cat.corpus.queries):,} queries"
    + (
        "."
        if judged(cat)
        else ", no judgements: Search, Compare and Embeddings work; metrics and Confused need judgements."
    )
)
st.caption(
    "On this machine: "
    + ", ".join(shown(n) for n in names())
    + f". {shown(DEFAULT)} is the MS MARCO demo corpus the models were trained on. "
    "Remove an added one with `python -m core corpus remove NAME`."
)

st.subheader("Add a corpus")
st.markdown(
    "Upload your own passages: a **CSV, TSV, JSONL or Parquet** file with one passage a row, or a **zip "
    "of a BEIR folder**. Both models encode them (no training, the checkpoints are unchanged; words they "
    "never saw get their GloVe vectors), then the corpus is picked and searchable."
)
st.caption(HOW)
add_corpus_panel()
