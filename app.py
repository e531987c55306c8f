"""Streamlit entry point: `streamlit run app.py`. A router over the pages, with the presentation switch
and the corpus picker."""

import streamlit as st

from views.parts import state
from views.parts.corpus_picker import corpus_picker
from views.parts.url import presentation_switch

st.set_page_config(
    page_title="Two-tower search · MS MARCO", page_icon="🔎", layout="wide", initial_sidebar_state="collapsed"
)
page = st.navigation(
    [
        st.Page("views/pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("views/pages/search.py", title="Search", icon="🔎"),
        st.Page("views/pages/compare.py", title="Compare", icon="⚖️"),
        st.Page("views/pages/embeddings.py", title="Embeddings", icon="🗺️"),
        st.Page("views/pages/confused.py", title="Confused", icon="🤔"),
        st.Page("views/pages/training.py", title="Training", icon="🏋️"),
        st.Page("views/pages/corpora.py", title="Corpora", icon="📚", visibility="hidden"),  # via the picker
    ],
    position="top",
)
st.session_state.page = page.url_path  # which page wrote the URL last (views.parts.url: Back undoes a step)
presentation_switch()
corpus_picker()
with state.serving():  # background index builds wait until no page is being served
    page.run()
